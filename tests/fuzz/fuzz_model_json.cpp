// Fuzz target: a model JSON file (models/model_spec.h) parsed, checked by
// shape inference, narrowed to a small width and built into a Model with
// 2-bit weights in every stage and 2-bit activations, then initialized.
//
// Building allocates every parameter, so specs whose parameters, after the
// width is applied, exceed kMaxBuildParams are parsed and checked but not
// built (the fuzzer's memory limit is for finding leaks and overflows, not
// for allocating the gigabytes a legal but large model needs).
#include <cstdint>
#include <string>

#include "engine/error.h"
#include "models/model.h"
#include "models/model_spec.h"
#include "models/size.h"
#include "quant/policy.h"

namespace {
constexpr int64_t kMaxBuildParams = int64_t(1) << 20;

int64_t param_count(const taper::ModelSpec& spec) {
  int64_t total = 0;
  for (const auto& L : spec.layers) total += taper::weight_params(L);
  return total;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    taper::ModelSpec spec = taper::parse_model_json(text, "fuzz.json");
    taper::ModelSpec small = taper::apply_width(spec, 0.25);
    if (param_count(small) > kMaxBuildParams) return 0;
    taper::BuildOptions options;
    options.stage_bits = taper::parse_wbits("2", small.num_stages);
    options.abits = 2;
    taper::Model model(small, options);
    model.init(1);
  } catch (const taper::Error&) {
  }
  return 0;
}
