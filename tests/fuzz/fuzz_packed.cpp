// Fuzz target: a packed model file (models/packed_model.h,
// docs/packed-format.md) read as safetensors and validated and prepared by
// PackedModel; when the file is accepted and its model small, one forward
// of a batch of one zero image through the integer engine.
//
// A legal file may describe a network far too big to run per input (the
// model JSON in its metadata allows inputs of up to 2^16 pixels a side), so
// the forward runs only below kMaxActivations output elements per image and
// kMaxMacs multiply-adds: the fuzzer's time limit is for finding hangs,
// not for running large legal models.
#include <cstdint>
#include <string>

#include "engine/error.h"
#include "engine/safetensors.h"
#include "engine/tensor.h"
#include "fuzz_support.h"
#include "models/packed_model.h"
#include "models/size.h"

namespace {
constexpr int64_t kMaxActivations = int64_t(1) << 20;
constexpr int64_t kMaxMacs = int64_t(1) << 26;

bool small_enough(const taper::ModelSpec& spec) {
  int64_t activations = 0, macs = 0;
  for (const auto& L : spec.layers) {
    const int64_t out = taper::shape_numel(L.out_shape);
    activations += out;
    const int64_t w = taper::weight_params(L);
    // A weight is used once per output position: out / out_channels times.
    if (w > 0 && L.out_shape.size() >= 1 && L.out_shape[0] > 0) macs += w * (out / L.out_shape[0]);
    if (activations > kMaxActivations || macs > kMaxMacs) return false;
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = taper::fuzz::write_file("in.safetensors", data, size);
  try {
    taper::SafeTensors file = taper::load_safetensors(path);
    taper::PackedModel model(file);
    if (!small_enough(model.spec())) return 0;
    const taper::Shape& in = model.spec().input;
    taper::Tensor x({1, in[0], in[1], in[2]});
    x.fill(0.0f);
    (void)model.forward(x);
  } catch (const taper::Error&) {
  }
  return 0;
}
