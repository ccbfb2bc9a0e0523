#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <vector>

#include "quant/binarize.h"
#include "quant/kbit.h"
#include "quant/weight_quant.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

// All values are dyadic, so the scales below are exact.
//   row 0: |.| = 0.5 + 0.25 + 0 + 1.5 = 2.25 -> s0 = 0.5625
//   row 1: |.| = 2 + 0.125 + 0.125 + 0.25 = 2.5 -> s1 = 0.625
//   tensor: 4.75 / 8 = 0.59375
static const std::vector<float> kW = {0.5f, -0.25f, 0.0f, 1.5f, -2.0f, 0.125f, -0.125f, 0.25f};

TEST_CASE("binarize: per-channel and per-tensor scales by hand, sign(0) = +1") {
  std::vector<float> wb(8), scale(2);
  binarize_ref(kW.data(), wb.data(), scale.data(), 2, 4, false);
  CHECK(scale[0] == 0.5625f);
  CHECK(scale[1] == 0.625f);
  const std::vector<float> per_channel = {0.5625f, -0.5625f, 0.5625f, 0.5625f,
                                          -0.625f, 0.625f,   -0.625f, 0.625f};
  CHECK(wb == per_channel);

  binarize_ref(kW.data(), wb.data(), scale.data(), 2, 4, true);
  CHECK(scale[0] == 0.59375f);
  CHECK(scale[1] == 0.59375f);
  for (int i = 0; i < 8; ++i) CHECK(wb[i] == (per_channel[i] > 0 ? 0.59375f : -0.59375f));

  // -0.0 is a zero too: sign(-0) = +1.
  const std::vector<float> zeros = {0.0f, -0.0f, 1.0f, -1.0f};
  std::vector<float> zb(4), zs(1);
  binarize(zeros.data(), zb.data(), zs.data(), 1, 4, false);
  CHECK(zs[0] == 0.5f);
  CHECK(zb == std::vector<float>{0.5f, 0.5f, 0.5f, -0.5f});
}

TEST_CASE("binarize: fast matches the reference bit for bit") {
  // Conv (OC, IC, KH, KW), grouped conv, linear (OUT, IN); the last two exceed
  // kQuantParallelMin, so the threaded path runs.
  for (const Shape& shape : {Shape{16, 3, 3, 3}, Shape{12, 4, 5, 5}, Shape{10, 37},
                             Shape{64, 64, 3, 3}, Shape{512, 300}}) {
    Tensor w = random_tensor(shape, 11, -1.5f, 1.5f);
    w[0] = 0.0f, w[1] = -0.0f;
    const int64_t rows = shape[0], cols = w.numel() / rows;
    for (bool per_tensor : {false, true}) {
      INFO(shape_str(shape) << " per_tensor " << per_tensor);
      Tensor ref(shape), fast(shape), ref_s({rows}), fast_s({rows});
      binarize_ref(w.data(), ref.data(), ref_s.data(), rows, cols, per_tensor);
      binarize(w.data(), fast.data(), fast_s.data(), rows, cols, per_tensor);
      CHECK(std::memcmp(ref.data(), fast.data(), sizeof(float) * w.numel()) == 0);
      CHECK(std::memcmp(ref_s.data(), fast_s.data(), sizeof(float) * rows) == 0);
    }
  }
}

TEST_CASE("binarize backward: g * 1{|W| < 1}, the scale neither learns nor multiplies") {
  // |W| < 1 passes (including 0 and 0.999); |W| >= 1 blocks (including exactly 1).
  const std::vector<float> values = {-1.0f, 1.0f, 0.999f, -0.5f, 3.0f, 0.0f, -0.999f, -2.0f};
  const std::vector<float> mask = {0, 0, 1, 1, 0, 1, 1, 0};
  Var w(Tensor::from({2, 4}, values), true);
  WeightQuantizer op(1);
  Tape tape;
  Var& wb = op.forward(w, tape);
  // s0 = (1 + 1 + 0.999 + 0.5) / 4, not 1: a gradient scaled by s would fail below.
  REQUIRE(op.scale()[0] != 1.0f);
  CHECK(wb.data[0] == -op.scale()[0]);
  Tensor g = Tensor::from({2, 4}, {0.5f, -1.5f, 2.0f, -0.75f, 1.25f, 3.0f, -2.5f, 0.25f});
  w.grad_buffer().fill(10.0f);  // backward adds to what is there
  tape.backward(wb, g);
  for (int i = 0; i < 8; ++i) {
    INFO("element " << i << " w = " << values[i]);
    CHECK(w.grad[i] == 10.0f + g[i] * mask[i]);
  }
}
