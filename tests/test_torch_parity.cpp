// `taper forward` against PyTorch, without PyTorch: the golden files in
// tests/golden were written by tests/torch/parity.py (vgg7-fmnist at width
// 0.125, batch 4, weights built from their quantized levels), which also
// runs the same check against a live PyTorch at full width:
//   /usr/bin/python3 tests/torch/parity.py --taper build/taper
// Every logit, the loss, every parameter gradient and the updated running
// statistics are compared. Quantized activations may round differently when
// summation order differs, so a small share of elements may differ in the
// quantized configurations; that share is bounded, not ignored.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/safetensors.h"
#include "support/run_taper.h"

using namespace taper;
using namespace taper::testing;

namespace {

constexpr double kParityRelTol = 1e-3;  // per element, relative to the element
constexpr double kParityAbsTol = 1e-4;  // per element, relative to the tensor's largest magnitude
constexpr double kMaxDifferingShareFp32 = 0.0;
constexpr double kMaxDifferingShareQuantized = 0.02;

const std::string kGolden = std::string(TAPER_SOURCE_DIR) + "/tests/golden/";

double differing_share(const Tensor& got, const Tensor& want) {
  double scale = 0.0;
  for (int64_t i = 0; i < want.numel(); ++i) scale = std::max(scale, double(std::fabs(want[i])));
  if (scale == 0.0) scale = 1.0;
  int64_t bad = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    double d = std::fabs(double(got[i]) - want[i]);
    if (!(d <= kParityAbsTol * scale + kParityRelTol * std::fabs(want[i]))) ++bad;
  }
  return want.numel() ? double(bad) / want.numel() : 0.0;
}

void check_config(const std::string& cfg, const std::string& wbits, int abits, bool train) {
  TempDir dir;
  const std::string mode = train ? "train" : "eval";
  RunResult r = run_taper("forward vgg7-fmnist --width 0.125 --input " + kGolden + "parity_input.safetensors" +
                          " --weights " + kGolden + "parity_" + cfg + "_weights.safetensors --output " +
                          (dir / "out.safetensors") + " --save-weights " + (dir / "saved.safetensors") +
                          " --wbits " + wbits + " --abits " + std::to_string(abits) + (train ? " --train" : ""));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  SafeTensors got = load_safetensors(dir / "out.safetensors");
  SafeTensors saved = load_safetensors(dir / "saved.safetensors");
  SafeTensors want = load_safetensors(kGolden + "parity_" + cfg + "_" + mode + "_expected.safetensors");
  const double bound = cfg == "fp32" ? kMaxDifferingShareFp32 : kMaxDifferingShareQuantized;
  int compared = 0;
  for (const auto& [name, entry] : want.entries) {
    INFO(cfg << " " << mode << " " << name);
    const bool state = name.rfind("state.", 0) == 0;
    const SafeTensors& src = state ? saved : got;
    const std::string key = state ? name.substr(6) : name;
    REQUIRE(src.has(key));
    Tensor g = src.get(key), w = want.get(name);
    REQUIRE(g.numel() == w.numel());
    CHECK(differing_share(g, w) <= bound);
    ++compared;
  }
  // logits, loss; 7 batch norms x (weight, bias) grads; 6 conv + 2 linear weight
  // grads and the output bias grad; 7 x (running mean, running var)
  CHECK(compared == 2 + 14 + 9 + 14);
}

}  // namespace

TEST_CASE("forward matches PyTorch: fp32") {
  check_config("fp32", "32", 32, true);
  check_config("fp32", "32", 32, false);
}

TEST_CASE("forward matches PyTorch: w2a2") {
  check_config("w2a2", "2", 2, true);
  check_config("w2a2", "2", 2, false);
}

TEST_CASE("forward matches PyTorch: progressive 8-4-2-1-1-1-1 a2") {
  check_config("progressive", "8-4-2-1-1-1-1", 2, true);
  check_config("progressive", "8-4-2-1-1-1-1", 2, false);
}
