#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "engine/error.h"
#include "engine/parallel.h"
#include "layers/conv2d.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

// Fast (im2col + float32 GEMM) vs reference (double accumulation): inputs
// are uniform in [-1, 1) and sums have at most a few hundred terms, so
// float32 round-off stays near 1e-5 absolute.
static constexpr float kFastVsRefAbsTol = 1e-4f;
static constexpr float kFastVsRefRelTol = 1e-5f;

namespace {

struct ConvCase {
  std::string name;
  Conv2dParams p;
  int64_t N, H, W;
  bool bias;
};

// Every shape the fast paths branch on: stride 2 and 3, padding, groups,
// 1x1 (strided and pointwise), non-square kernels and strides, batch 3, OC
// not a multiple of 16, outputs small enough to batch several images into
// one GEMM or plane (with a short last block); geometries the direct
// kernels fit and ones they do not (valid padding, stride 2 along a
// 3-wide unpadded axis), which take the im2col path.
const ConvCase kCases[] = {
    {"3x3 stride 2 pad 1", {3, 5, 3, 3, 2, 2, 1, 1, 1}, 2, 7, 6, true},
    {"3x3 pad 1 groups 2 batch 3", {4, 6, 3, 3, 1, 1, 1, 1, 2}, 3, 9, 8, true},
    {"1x1 stride 2 (projection shortcut)", {8, 10, 1, 1, 2, 2, 0, 0, 1}, 2, 7, 7, false},
    {"1x1 stride 1 pointwise, 16x16", {5, 7, 1, 1, 1, 1, 0, 0, 1}, 3, 16, 16, true},
    {"1x1 stride 1 pointwise, batched", {6, 4, 1, 1, 1, 1, 0, 0, 2}, 5, 3, 4, true},
    {"2x3 kernel stride (1, 2) pad (1, 0)", {3, 4, 2, 3, 1, 2, 1, 0, 1}, 2, 5, 9, true},
    {"OC 20 batch 3, 4x4 output batched", {3, 20, 3, 3, 1, 1, 1, 1, 1}, 3, 4, 4, true},
    {"5x5 stride 2 pad 2 groups 4 batch 5", {8, 12, 5, 5, 2, 2, 2, 2, 4}, 5, 8, 8, false},
    {"5x5 pad 2 groups 2, OC 18 (direct, row tail)", {6, 18, 5, 5, 1, 1, 2, 2, 2}, 3, 6, 7, true},
    {"3x1 kernel pad (1, 0), OC 9, 12 channels", {12, 9, 3, 1, 1, 1, 1, 0, 1}, 2, 5, 13, true},
    {"3x3 pad 1, 1 input channel, 28x28", {1, 16, 3, 3, 1, 1, 1, 1, 1}, 2, 28, 28, true},
    {"1x1 pad 1 (output larger than input)", {3, 5, 1, 1, 1, 1, 1, 1, 1}, 2, 4, 5, true},
    {"3x3 stride 2 pad 1, 6x6, batch 5 (phases batched)", {4, 6, 3, 3, 2, 2, 1, 1, 1}, 5, 6, 6, true},
    {"3x3 stride 2 pad 1, 9x35 (vector phase split, odd width)", {3, 4, 3, 3, 2, 2, 1, 1, 1}, 2, 9, 35, true},
    {"1x1 stride 2, 5x40 (vector phase split)", {5, 3, 1, 1, 2, 2, 0, 0, 1}, 2, 5, 40, false},
    {"3x3 stride 3 pad 1 (nine phases)", {2, 4, 3, 3, 3, 3, 1, 1, 1}, 2, 9, 9, true},
    {"3x3 valid, 16x16 (one image per GEMM)", {2, 17, 3, 3, 1, 1, 0, 0, 1}, 3, 18, 18, true},
};

void check_close(const Tensor& got, const Tensor& want, const std::string& what) {
  REQUIRE(got.same_shape(want));
  int bad = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    float tol = kFastVsRefAbsTol + kFastVsRefRelTol * std::fabs(want[i]);
    if (!(std::fabs(got[i] - want[i]) <= tol) && bad++ < 5)
      FAIL_CHECK(what << ": element " << i << " fast " << got[i] << " ref " << want[i]);
  }
}

// One forward and backward through the fast path, compared with the three
// reference loops. Gradients start from a non-zero value to test that
// backward adds (+=) rather than assigns.
void check_case_against_ref(const ConvCase& c) {
  INFO(c.name << " with " << num_threads() << " threads");
  const Conv2dParams& p = c.p;
  const int64_t OH = conv_out_size(c.H, p.kernel_h, p.stride_h, p.pad_h);
  const int64_t OW = conv_out_size(c.W, p.kernel_w, p.stride_w, p.pad_w);
  Var x(random_tensor({c.N, p.in_channels, c.H, c.W}, 1), true);
  Var w(random_tensor({p.out_channels, p.in_channels / p.groups, p.kernel_h, p.kernel_w}, 2), true);
  Var b(random_tensor({p.out_channels}, 3), true);
  Tensor dy = random_tensor({c.N, p.out_channels, OH, OW}, 4);
  x.grad = random_tensor(x.data.shape(), 5);
  w.grad = random_tensor(w.data.shape(), 6);
  b.grad = random_tensor(b.data.shape(), 7);
  Tensor dx_ref = x.grad.clone(), dw_ref = w.grad.clone(), db_ref = b.grad.clone();

  Conv2d op(p);
  Tape tape;
  Var& y = op.forward(x, w, c.bias ? &b : nullptr, tape);
  Tensor y_ref({c.N, p.out_channels, OH, OW});
  conv2d_forward_ref(p, c.N, c.H, c.W, x.data.data(), w.data.data(), c.bias ? b.data.data() : nullptr,
                     y_ref.data());
  check_close(y.data, y_ref, c.name + ": forward");

  tape.backward(y, dy);
  conv2d_backward_data_ref(p, c.N, c.H, c.W, dy.data(), w.data.data(), dx_ref.data());
  conv2d_backward_weight_ref(p, c.N, c.H, c.W, x.data.data(), dy.data(), dw_ref.data(),
                             c.bias ? db_ref.data() : nullptr);
  check_close(x.grad, dx_ref, c.name + ": backward data");
  check_close(w.grad, dw_ref, c.name + ": backward weight");
  check_close(b.grad, db_ref, c.name + ": backward bias");
}

}  // namespace

TEST_CASE("conv fast path matches the reference loops") {
  const int saved = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (const ConvCase& c : kCases) check_case_against_ref(c);
  }
  set_num_threads(saved);
}

TEST_CASE("conv reference forward gives known values") {
  // 1 image, 1 channel 3x3 ramp, 2x2 kernel of ones, stride 1, pad 0:
  // each output is the sum of a 2x2 window. With bias 0.5.
  Conv2dParams p{1, 1, 2, 2};
  Var x(Tensor::from({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  Var w(Tensor::full({1, 1, 2, 2}, 1.0f)), b(Tensor::from({1}, {0.5f}));
  Conv2d op(p);
  Tape tape;
  Var& y = op.forward(x, w, &b, tape);
  REQUIRE(y.data.shape() == Shape{1, 1, 2, 2});
  CHECK(y.data[0] == 12.5f);
  CHECK(y.data[1] == 16.5f);
  CHECK(y.data[2] == 24.5f);
  CHECK(y.data[3] == 28.5f);
  Tensor ref({1, 1, 2, 2});
  conv2d_forward_ref(p, 1, 3, 3, x.data.data(), w.data.data(), b.data.data(), ref.data());
  for (int i = 0; i < 4; ++i) CHECK(ref[i] == y.data[i]);
}

TEST_CASE("conv gradients") {
  {
    Conv2d op({3, 4, 3, 3, 1, 1, 1, 1, 1});
    Var x(random_tensor({2, 3, 5, 5}, 11)), w(random_tensor({4, 3, 3, 3}, 12)), b(random_tensor({4}, 13));
    check_gradients([&](Tape& t) -> Var& { return op.forward(x, w, &b, t); }, {&x, &w, &b},
                    "conv 3x3 pad 1");
  }
  {
    Conv2d op({4, 6, 3, 3, 2, 2, 1, 1, 2});
    Var x(random_tensor({2, 4, 7, 6}, 21)), w(random_tensor({6, 2, 3, 3}, 22)), b(random_tensor({6}, 23));
    check_gradients([&](Tape& t) -> Var& { return op.forward(x, w, &b, t); }, {&x, &w, &b},
                    "conv 3x3 stride 2 pad 1 groups 2");
  }
  {
    Conv2d op({4, 5, 1, 1, 2, 2, 0, 0, 1});
    Var x(random_tensor({3, 4, 5, 5}, 31)), w(random_tensor({5, 4, 1, 1}, 32));
    check_gradients([&](Tape& t) -> Var& { return op.forward(x, w, nullptr, t); }, {&x, &w},
                    "conv 1x1 stride 2");
  }
  {
    Conv2d op({2, 3, 2, 3, 2, 1, 1, 2, 1});
    Var x(random_tensor({2, 2, 4, 5}, 41)), w(random_tensor({3, 2, 2, 3}, 42)), b(random_tensor({3}, 43));
    check_gradients([&](Tape& t) -> Var& { return op.forward(x, w, &b, t); }, {&x, &w, &b},
                    "conv 2x3 stride (2, 1) pad (1, 2)");
  }
}

TEST_CASE("conv skips dx when the input needs no gradient") {
  Conv2d op({2, 3, 3, 3, 1, 1, 1, 1, 1});
  Var x(random_tensor({2, 2, 5, 5}, 51)), w(random_tensor({3, 2, 3, 3}, 52), true);
  Tape tape;
  Var& y = op.forward(x, w, nullptr, tape);
  tape.backward(y, random_tensor(y.data.shape(), 53));
  CHECK(x.grad.empty());
  CHECK(w.grad.same_shape(w.data));
}

TEST_CASE("conv results are identical across two runs") {
  const int saved = num_threads();
  set_num_threads(2);
  // A direct "same" convolution, a strided direct one and an im2col one.
  const Conv2dParams params[] = {{6, 10, 3, 3, 1, 1, 1, 1, 2},
                                 {6, 10, 3, 3, 2, 2, 1, 1, 1},
                                 {6, 10, 3, 3, 1, 1, 0, 0, 1}};
  for (const Conv2dParams& p : params) {
    INFO("stride " << p.stride_h << " pad " << p.pad_h << " groups " << p.groups);
    Var x(random_tensor({7, 6, 5, 5}, 61), true), w(random_tensor({10, 6 / p.groups, 3, 3}, 62), true);
    Var b(random_tensor({10}, 63), true);
    Tensor first[4];
    for (int run = 0; run < 2; ++run) {
      Conv2d op(p);
      zero_grad({&x, &w, &b});
      Tape tape;
      Var& y = op.forward(x, w, &b, tape);
      Tensor y_copy = y.data.clone();
      tape.backward(y, random_tensor(y.data.shape(), 64));
      Tensor got[4] = {y_copy, x.grad.clone(), w.grad.clone(), b.grad.clone()};
      for (int k = 0; k < 4; ++k) {
        if (run == 0) {
          first[k] = got[k];
          continue;
        }
        REQUIRE(got[k].same_shape(first[k]));
        for (int64_t i = 0; i < got[k].numel(); ++i) REQUIRE(got[k][i] == first[k][i]);
      }
    }
  }
  set_num_threads(saved);
}

TEST_CASE("conv rejects bad parameters and shapes") {
  CHECK_THROWS_WITH(Conv2d({3, 4, 3, 3, 1, 1, 1, 1, 2}), Catch::Contains("divisible by groups"));
  CHECK_THROWS_WITH(Conv2d({3, 4, 0, 3}), Catch::Contains("kernel must be positive"));
  CHECK_THROWS_WITH(Conv2d({3, 4, 3, 3, 0, 1}), Catch::Contains("stride must be positive"));
  CHECK_THROWS_WITH(Conv2d({3, 4, 3, 3, 1, 1, -1, 0}), Catch::Contains("padding must be >= 0"));
  CHECK_THROWS_WITH(Conv2d({0, 4, 3, 3}), Catch::Contains("channel counts must be positive"));
  CHECK_THROWS_AS(conv_out_size(2, 3, 1, 0), Error);
  CHECK(conv_out_size(2, 3, 1, 1) == 2);
  CHECK(conv_out_size(32, 3, 2, 1) == 16);
  CHECK(conv_out_size(7, 1, 2, 0) == 4);

  Conv2d op({3, 4, 3, 3, 1, 1, 0, 0, 1});
  Tape tape;
  Var w(Tensor({4, 3, 3, 3}));
  Var x_channels(Tensor({2, 2, 5, 5}));
  CHECK_THROWS_WITH(op.forward(x_channels, w, nullptr, tape), Catch::Contains("input channels"));
  Var x_rank(Tensor({3, 5, 5}));
  CHECK_THROWS_WITH(op.forward(x_rank, w, nullptr, tape), Catch::Contains("input channels"));
  Var x(Tensor({2, 3, 5, 5})), w_bad(Tensor({4, 3, 2, 3}));
  CHECK_THROWS_WITH(op.forward(x, w_bad, nullptr, tape), Catch::Contains("weight"));
  Var b_bad(Tensor({5}));
  CHECK_THROWS_WITH(op.forward(x, w, &b_bad, tape), Catch::Contains("bias"));
  Var x_small(Tensor({2, 3, 2, 5}));
  CHECK_THROWS_WITH(op.forward(x_small, w, nullptr, tape), Catch::Contains("does not fit input size"));
}
