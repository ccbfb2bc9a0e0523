#include <catch2/catch.hpp>
#include <limits>

#include "engine/error.h"
#include "engine/parallel.h"
#include "layers/dropout.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

// With n = 200000 draws at p = 0.3, the kept fraction has standard deviation
// sqrt(p (1 - p) / n) ~ 0.001; 0.006 is six of them.
constexpr double kFractionTol = 0.006;

TEST_CASE("dropout keeps 1 - p of the elements and scales them by 1 / (1 - p)") {
  const float p = 0.3f;
  const int64_t n = 200000;
  Var x(Tensor::full({n / 100, 100}, 2.0f));
  Dropout op(p, 42);
  Tape tape;
  const Tensor& y = op.forward(x, tape).data;
  REQUIRE(y.shape() == x.data.shape());
  const float kept_value = 2.0f * (1.0f / (1.0f - p));
  int64_t kept = 0;
  double sum = 0.0;
  bool only_two_values = true;
  for (int64_t i = 0; i < n; ++i) {
    if (y[i] == kept_value) ++kept;
    else if (y[i] != 0.0f) only_two_values = false;
    sum += y[i];
  }
  CHECK(only_two_values);
  CHECK(double(kept) / n == Approx(1.0 - p).margin(kFractionTol));
  // Inverted dropout keeps the expectation: mean(y) ~ x = 2.
  CHECK(sum / n == Approx(2.0).margin(2.0 * kFractionTol / (1.0 - p)));
}

TEST_CASE("dropout masks follow the seed, not the thread count") {
  Var x(random_tensor({64, 1024}, 1));
  const int threads = num_threads();
  set_num_threads(1);
  Dropout one(0.5f, 7);
  Tape tape;
  Tensor y1 = one.forward(x, tape).data.clone();
  Tensor y1_next = one.forward(x, tape).data.clone();
  set_num_threads(2);
  Dropout two(0.5f, 7);
  Tensor y2 = two.forward(x, tape).data.clone();
  set_num_threads(threads);
  int64_t same = 0, differs_next = 0;
  for (int64_t i = 0; i < x.data.numel(); ++i) {
    same += y1[i] == y2[i];
    differs_next += y1[i] != y1_next[i];
  }
  CHECK(same == x.data.numel());
  CHECK(differs_next > 0);  // the stream moves on: the next step has a new mask

  Dropout other(0.5f, 8);
  Tensor y3 = other.forward(x, tape).data.clone();
  int64_t differs_seed = 0;
  for (int64_t i = 0; i < x.data.numel(); ++i) differs_seed += y1[i] != y3[i];
  CHECK(differs_seed > 0);
}

TEST_CASE("dropout in eval mode is the identity, forward and backward") {
  Var x(random_tensor({4, 5}, 2), true);
  Dropout op(0.5f, 3);
  op.training = false;
  Tape tape;
  Var& y = op.forward(x, tape);
  CHECK(y.data.data() != x.data.data());  // a copy, never an alias of x
  for (int64_t i = 0; i < x.data.numel(); ++i) CHECK(y.data[i] == x.data[i]);
  tape.backward(y);
  for (int64_t i = 0; i < x.data.numel(); ++i) CHECK(x.grad[i] == 1.0f);
  check_gradients([&](Tape& t) -> Var& { return op.forward(x, t); }, {&x}, "dropout eval");
}

TEST_CASE("dropout with p = 0 keeps everything in training") {
  Var x(random_tensor({3, 3}, 4));
  Dropout op(0.0f, 5);
  Tape tape;
  const Tensor& y = op.forward(x, tape).data;
  for (int64_t i = 0; i < x.data.numel(); ++i) CHECK(y[i] == x.data[i]);
}

TEST_CASE("dropout gradients") {
  // Reseeding before each forward replays one mask, so the op is a fixed
  // function of x for the finite differences.
  Var x(random_tensor({6, 7}, 6));
  Dropout op(0.4f, 0);
  check_gradients(
      [&](Tape& t) -> Var& {
        op.rng = Rng(99);
        return op.forward(x, t);
      },
      {&x}, "dropout");
  // The gradient is the mask: 0 where dropped, 1 / (1 - p) where kept.
  zero_grad({&x});
  Tape tape;
  op.rng = Rng(99);
  Var& y = op.forward(x, tape);
  tape.backward(y);
  const float scale = 1.0f / (1.0f - 0.4f);
  for (int64_t i = 0; i < x.data.numel(); ++i) {
    CHECK((x.grad[i] == 0.0f || x.grad[i] == scale));
    CHECK(y.data[i] == x.data[i] * x.grad[i]);
  }
}

TEST_CASE("dropout rejects p outside [0, 1)") {
  CHECK_THROWS_WITH(Dropout(1.0f, 0), Catch::Contains("dropout") && Catch::Contains("0 <= p < 1"));
  CHECK_THROWS_AS(Dropout(-0.1f, 0), Error);
  CHECK_THROWS_AS(Dropout(std::numeric_limits<float>::quiet_NaN(), 0), Error);
}
