#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "engine/error.h"
#include "layers/pool.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

static void check_values(const Tensor& y, const Shape& shape, const std::vector<float>& expected) {
  REQUIRE(y.shape() == shape);
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(y[i] == Approx(expected[i]).margin(1e-6));
  }
}

// A 4x4 plane:
//    3  1  4  1
//    5  9  2  6
//    5  3  5  8
//    9  7  9  3
static Tensor plane4() {
  return Tensor::from({1, 1, 4, 4}, {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3});
}

TEST_CASE("max pool values: kernel 2 stride 2") {
  Var x(plane4());
  MaxPool2d op(2, 2, 0);
  Tape tape;
  check_values(op.forward(x, tape).data, {1, 1, 2, 2}, {9, 6, 9, 9});
}

TEST_CASE("max pool values: overlapping windows, kernel 3 stride 2 padding 1") {
  // OH = (4 + 2 - 3) / 2 + 1 = 2; windows cover rows {-1, 0, 1} and {1, 2, 3}.
  Var x(plane4());
  MaxPool2d op(3, 2, 1);
  Tape tape;
  check_values(op.forward(x, tape).data, {1, 1, 2, 2}, {9, 9, 9, 9});
  // All four windows contain the 9 at (1, 1); the bottom ones also hold 9s
  // at (3, 0) and (3, 2), later in row-major order, so (1, 1) wins every tie
  // and collects all four outputs' gradients.
  Tensor dx = grad_of_ones(op, x);
  check_values(dx, {1, 1, 4, 4}, {0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("max pool values: stride larger than the kernel, floor output size") {
  // 5x5 plane 0..24, kernel 2 stride 3: OH = (5 - 2) / 3 + 1 = 2, rows {0,1} and {3,4}.
  Tensor t({1, 1, 5, 5});
  for (int i = 0; i < 25; ++i) t[i] = static_cast<float>(i);
  Var x(t);
  MaxPool2d op(2, 3, 0);
  Tape tape;
  check_values(op.forward(x, tape).data, {1, 1, 2, 2}, {6, 9, 21, 24});
}

TEST_CASE("max pool pads with -inf, never with zero") {
  Var x(Tensor::from({1, 1, 2, 2}, {-4, -3, -2, -1}));
  MaxPool2d op(3, 1, 1);  // every window includes padding
  Tape tape;
  check_values(op.forward(x, tape).data, {1, 1, 2, 2}, {-1, -1, -1, -1});
  Var inf(Tensor::full({1, 1, 2, 2}, -std::numeric_limits<float>::infinity()));
  CHECK(op.forward(inf, tape).data[0] == -std::numeric_limits<float>::infinity());
}

TEST_CASE("max pool sends a tie's gradient to the first maximum") {
  Var x(Tensor::full({1, 1, 2, 2}, 1.0f));
  MaxPool2d op(2, 2, 0);
  check_values(grad_of_ones(op, x), {1, 1, 2, 2}, {1, 0, 0, 0});
}

TEST_CASE("max pool propagates NaN") {
  Var x(Tensor::from({1, 1, 2, 2}, {1, std::nanf(""), 3, 2}));
  MaxPool2d op(2, 2, 0);
  Tape tape;
  CHECK(std::isnan(op.forward(x, tape).data[0]));
}

TEST_CASE("2x2 max pool fast path equals the reference exactly: values, argmax, ties, NaN") {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> small(-2, 2), coin(0, 15);
  // Every small plane, and rows of 16-37 outputs (H 2-4): whole SIMD vectors of 8
  // and 16 lanes and every tail after them.
  std::vector<std::pair<int64_t, int64_t>> planes;
  for (int64_t H = 2; H <= 9; ++H)
    for (int64_t W = 2; W <= 9; ++W) planes.push_back({H, W});
  for (int64_t W = 32; W <= 75; ++W) planes.push_back({W % 3 + 2, W});
  for (const auto& [H, W] : planes) {
    std::vector<float> x(static_cast<size_t>(H * W));
    for (float& v : x) v = coin(rng) == 0 ? std::nanf("") : static_cast<float>(small(rng));  // ties, NaNs
    const int64_t OH = H / 2, OW = W / 2;
    std::vector<float> y_ref(OH * OW), y_fast(OH * OW);
    std::vector<int32_t> a_ref(OH * OW), a_fast(OH * OW, -1);
    maxpool_plane_ref(x.data(), H, W, 2, 2, 0, OH, OW, y_ref.data(), a_ref.data());
    maxpool2x2_plane(x.data(), H, W, y_fast.data(), a_fast.data());
    INFO("plane " << H << "x" << W);
    CHECK(std::memcmp(y_ref.data(), y_fast.data(), y_ref.size() * sizeof(float)) == 0);
    CHECK(a_ref == a_fast);
    std::vector<float> y_noarg(OH * OW);  // without argmax (eval mode): the same values
    maxpool2x2_plane(x.data(), H, W, y_noarg.data(), nullptr);
    CHECK(std::memcmp(y_ref.data(), y_noarg.data(), y_ref.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("max pool gradients") {
  // spread_tensor: no two inputs within 0.05, so a step of 0.01 never moves an argmax.
  struct Case { int k, s, p; Shape shape; };
  const Case cases[] = {
      {2, 2, 0, {2, 3, 6, 6}},  // the plain VGG / LeNet pool
      {3, 2, 1, {2, 2, 7, 7}},  // overlapping, padded (AlexNet, ResNet-18)
      {3, 2, 1, {1, 2, 8, 6}},  // same, even sizes: the last window is clipped
      {3, 2, 0, {1, 3, 7, 9}},  // overlapping, unpadded (AlexNet's last pool)
      {2, 3, 1, {2, 2, 7, 8}},  // stride larger than the kernel, padded
  };
  for (const Case& c : cases) {
    Var x(spread_tensor(c.shape, 5 + c.k + 10 * c.s));
    MaxPool2d op(c.k, c.s, c.p);
    check_gradients([&](Tape& t) -> Var& { return op.forward(x, t); }, {&x},
                    "maxpool k" + std::to_string(c.k) + " s" + std::to_string(c.s) + " p" +
                        std::to_string(c.p) + " " + std::string(shape_str(c.shape)));
  }
}

TEST_CASE("pool output sizes of the reference models") {
  Tape tape;
  MaxPool2d alex(3, 2, 1), alex_last(3, 2, 0);
  Var a54(Tensor({1, 2, 54, 54})), a27(Tensor({1, 2, 27, 27})), a14(Tensor({1, 2, 14, 14}));
  CHECK(alex.forward(a54, tape).data.shape() == Shape{1, 2, 27, 27});
  CHECK(alex.forward(a27, tape).data.shape() == Shape{1, 2, 14, 14});
  CHECK(alex_last.forward(a14, tape).data.shape() == Shape{1, 2, 6, 6});
  Var r112(Tensor({1, 2, 112, 112}));
  CHECK(alex.forward(r112, tape).data.shape() == Shape{1, 2, 56, 56});
  MaxPool2d mp2(2, 2, 0);
  Var odd(Tensor({1, 1, 7, 5}));
  CHECK(mp2.forward(odd, tape).data.shape() == Shape{1, 1, 3, 2});
}

TEST_CASE("average pool counts padding in the divisor") {
  // count_include_pad = true: every window divides by 9, padded cells are 0.
  Var x(Tensor::full({1, 1, 3, 3}, 1.0f));
  AvgPool2d op(3, 1, 1);
  Tape tape;
  check_values(op.forward(x, tape).data, {1, 1, 3, 3},
               {4.f / 9, 6.f / 9, 4.f / 9, 6.f / 9, 1, 6.f / 9, 4.f / 9, 6.f / 9, 4.f / 9});
  // Each input gets 1/9 from every window that covers it: corners 4, edges 6, centre 9.
  check_values(grad_of_ones(op, x), {1, 1, 3, 3},
               {4.f / 9, 6.f / 9, 4.f / 9, 6.f / 9, 1, 6.f / 9, 4.f / 9, 6.f / 9, 4.f / 9});
}

TEST_CASE("average pool values: kernel 2 stride 2, and kernel 3 stride 2 padding 1") {
  Var x(plane4());
  AvgPool2d op(2, 2, 0);
  Tape tape;
  check_values(op.forward(x, tape).data, {1, 1, 2, 2}, {18 / 4.f, 13 / 4.f, 24 / 4.f, 25 / 4.f});
  AvgPool2d padded(3, 2, 1);
  // Windows: rows {0,1} x cols {0,1}; rows {0,1} x cols {1,2,3}; rows {1,2,3} x ...
  check_values(padded.forward(x, tape).data, {1, 1, 2, 2},
               {18 / 9.f, 23 / 9.f, 38 / 9.f, 52 / 9.f});
}

TEST_CASE("average pool gradients") {
  struct Case { int k, s, p; Shape shape; };
  const Case cases[] = {
      {2, 2, 0, {2, 3, 6, 6}},
      {3, 2, 1, {2, 2, 7, 8}},
      {3, 1, 1, {1, 2, 5, 5}},
      {2, 3, 1, {1, 2, 7, 7}},
  };
  for (const Case& c : cases) {
    Var x(random_tensor(c.shape, 7 + c.k));
    AvgPool2d op(c.k, c.s, c.p);
    check_gradients([&](Tape& t) -> Var& { return op.forward(x, t); }, {&x},
                    "avgpool k" + std::to_string(c.k) + " s" + std::to_string(c.s) + " p" +
                        std::to_string(c.p));
  }
}

TEST_CASE("global average pool values and gradients") {
  Var x(plane4());
  GlobalAvgPool op;
  Tape tape;
  check_values(op.forward(x, tape).data, {1, 1}, {80 / 16.f});
  check_values(grad_of_ones(op, x), {1, 1, 4, 4}, std::vector<float>(16, 1 / 16.f));
  Var big(random_tensor({3, 4, 5, 6}, 9));
  check_gradients([&](Tape& t) -> Var& { return op.forward(big, t); }, {&big}, "globalavgpool");
}

TEST_CASE("pooling rejects bad windows and inputs") {
  CHECK_THROWS_WITH(MaxPool2d(3, 2, 2), Catch::Contains("maxpool") && Catch::Contains("padding <= 1"));
  CHECK_THROWS_WITH(AvgPool2d(2, 2, 2), Catch::Contains("avgpool") && Catch::Contains("padding <= 1"));
  CHECK_THROWS_AS(MaxPool2d(0, 1, 0), Error);
  CHECK_THROWS_AS(MaxPool2d(2, 0, 0), Error);
  CHECK_THROWS_AS(AvgPool2d(2, 1, -1), Error);
  CHECK_NOTHROW(MaxPool2d(2, 2, 1));

  Tape tape;
  MaxPool2d mp(3, 2, 0);
  Var flat(Tensor({2, 16}));
  CHECK_THROWS_WITH(mp.forward(flat, tape), Catch::Contains("maxpool") && Catch::Contains("(2, 16)") &&
                                                Catch::Contains("(N, C, H, W)"));
  Var small(Tensor({1, 1, 2, 5}));
  CHECK_THROWS_WITH(mp.forward(small, tape), Catch::Contains("smaller than the 3x3 window"));
  AvgPool2d ap(3, 2, 1);
  CHECK_NOTHROW(ap.forward(small, tape));
  GlobalAvgPool gap;
  CHECK_THROWS_WITH(gap.forward(flat, tape), Catch::Contains("globalavgpool") && Catch::Contains("(2, 16)"));
}
