// `taper forward` against PyTorch, without PyTorch: the golden files in
// tests/golden were written by tests/torch/parity.py (vgg7-fmnist at width
// 0.125 and resnet20-preact at width 0.25, batch 4, weights built from their
// quantized levels), which also
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

// One model's golden files: the model, the width they were written at, and
// the prefix of their names.
struct GoldenModel {
  std::string model, width, prefix;
  int tensors;  // how many tensors the expected file holds
};

// vgg7-fmnist: logits, loss; 7 batch norms x (weight, bias) grads; 6 conv + 2
// linear weight grads and the output bias grad; 7 x (running mean, running var)
const GoldenModel kVgg{"vgg7-fmnist", "0.125", "parity_", 2 + 14 + 9 + 14};
// resnet20-preact: logits, loss; 19 batch norms (2 per block, the final one)
// x (weight, bias) grads; 21 conv weight grads (stem, 2 per block, 2
// shortcuts), fc weight and bias grads; 19 x (running mean, running var)
const GoldenModel kPreact{"resnet20-preact", "0.25", "parity_resnet20-preact_", 2 + 38 + 23 + 38};

void check_config(const GoldenModel& m, const std::string& cfg, const std::string& wbits, int abits, bool train) {
  TempDir dir;
  const std::string mode = train ? "train" : "eval";
  RunResult r = run_taper("forward " + m.model + " --width " + m.width + " --input " + kGolden + m.prefix +
                          "input.safetensors" + " --weights " + kGolden + m.prefix + cfg +
                          "_weights.safetensors --output " +
                          (dir / "out.safetensors") + " --save-weights " + (dir / "saved.safetensors") +
                          " --wbits " + wbits + " --abits " + std::to_string(abits) + (train ? " --train" : ""));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  SafeTensors got = load_safetensors(dir / "out.safetensors");
  SafeTensors saved = load_safetensors(dir / "saved.safetensors");
  SafeTensors want = load_safetensors(kGolden + m.prefix + cfg + "_" + mode + "_expected.safetensors");
  const double bound = cfg == "fp32" ? kMaxDifferingShareFp32 : kMaxDifferingShareQuantized;
  int compared = 0;
  for (const auto& [name, entry] : want.entries) {
    INFO(m.model << " " << cfg << " " << mode << " " << name);
    const bool state = name.rfind("state.", 0) == 0;
    const SafeTensors& src = state ? saved : got;
    const std::string key = state ? name.substr(6) : name;
    REQUIRE(src.has(key));
    Tensor g = src.get(key), w = want.get(name);
    REQUIRE(g.numel() == w.numel());
    CHECK(differing_share(g, w) <= bound);
    ++compared;
  }
  CHECK(compared == m.tensors);
}

}  // namespace

TEST_CASE("forward matches PyTorch: fp32") {
  check_config(kVgg, "fp32", "32", 32, true);
  check_config(kVgg, "fp32", "32", 32, false);
}

TEST_CASE("forward matches PyTorch: w2a2") {
  check_config(kVgg, "w2a2", "2", 2, true);
  check_config(kVgg, "w2a2", "2", 2, false);
}

TEST_CASE("forward matches PyTorch: progressive 8-4-2-1-1-1-1 a2") {
  check_config(kVgg, "progressive", "8-4-2-1-1-1-1", 2, true);
  check_config(kVgg, "progressive", "8-4-2-1-1-1-1", 2, false);
}

TEST_CASE("forward matches PyTorch: resnet20-preact fp32") {
  check_config(kPreact, "fp32", "32", 32, true);
  check_config(kPreact, "fp32", "32", 32, false);
}

TEST_CASE("forward matches PyTorch: resnet20-preact w2a2") {
  check_config(kPreact, "w2a2", "2", 2, true);
  check_config(kPreact, "w2a2", "2", 2, false);
}

TEST_CASE("forward matches PyTorch: resnet20-preact progressive 4-2-1 a2") {
  check_config(kPreact, "progressive", "4-2-1", 2, true);
  check_config(kPreact, "progressive", "4-2-1", 2, false);
}
