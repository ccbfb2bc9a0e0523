#include <catch2/catch.hpp>

#include "engine/error.h"
#include "layers/activation.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

TEST_CASE("relu forward values") {
  Var x(Tensor::from({2, 3}, {-2.0f, -0.5f, 0.0f, 0.25f, 3.0f, -1e-7f}));
  ReLU op;
  Tape tape;
  const Tensor& y = op.forward(x, tape).data;
  REQUIRE(y.shape() == Shape{2, 3});
  const float expected[] = {0.0f, 0.0f, 0.0f, 0.25f, 3.0f, 0.0f};
  for (int i = 0; i < 6; ++i) CHECK(y[i] == expected[i]);
}

TEST_CASE("relu gradient passes only where x > 0") {
  // Exactly at the kink x = 0 the gradient is 0, as PyTorch's.
  Var x(Tensor::from({5}, {-1.0f, 0.0f, 1e-6f, 2.0f, -1e-6f}));
  ReLU op;
  Tensor dx = grad_of_ones(op, x);
  const float expected[] = {0.0f, 0.0f, 1.0f, 1.0f, 0.0f};
  for (int i = 0; i < 5; ++i) CHECK(dx[i] == expected[i]);
}

TEST_CASE("relu gradients") {
  // spread_tensor keeps every |x| >= 0.025, beyond the step 0.01: no kink crossed.
  Var x(spread_tensor({3, 4, 5}, 11));
  ReLU op;
  check_gradients([&](Tape& t) -> Var& { return op.forward(x, t); }, {&x}, "relu");
}

TEST_CASE("relu in no-grad mode records nothing") {
  Var x(spread_tensor({4}, 3), true);
  ReLU op;
  Tape tape;
  NoGrad guard(tape);
  op.forward(x, tape);
  CHECK(tape.size() == 0);
  CHECK_FALSE(op.out.requires_grad);
}

TEST_CASE("clamp forward values") {
  Var x(Tensor::from({6}, {-0.5f, 0.0f, 0.3f, 1.0f, 1.5f, 0.999f}));
  Clamp op(0.0f, 1.0f);
  Tape tape;
  const Tensor& y = op.forward(x, tape).data;
  const float expected[] = {0.0f, 0.0f, 0.3f, 1.0f, 1.0f, 0.999f};
  for (int i = 0; i < 6; ++i) CHECK(y[i] == expected[i]);
}

TEST_CASE("clamp gradient passes where lo <= x <= hi, both ends included") {
  Var x(Tensor::from({7}, {-0.5f, -1e-6f, 0.0f, 0.5f, 1.0f, 1.000001f, 2.0f}));
  Clamp op(0.0f, 1.0f);
  Tensor dx = grad_of_ones(op, x);
  const float expected[] = {0.0f, 0.0f, 1.0f, 1.0f, 1.0f, 0.0f, 0.0f};
  for (int i = 0; i < 7; ++i) CHECK(dx[i] == expected[i]);
}

TEST_CASE("clamp gradients") {
  // spread_tensor values are odd multiples of 0.025; the bounds are multiples
  // of 0.05, so every input is 0.025 from a bound, beyond the step 0.01. The
  // range (-0.3, 0.4) leaves inputs on both sides of each bound.
  Var x(spread_tensor({3, 4, 5}, 12));
  Clamp op(-0.3f, 0.4f);
  check_gradients([&](Tape& t) -> Var& { return op.forward(x, t); }, {&x}, "clamp");
}

TEST_CASE("clamp rejects an empty interval") {
  CHECK_THROWS_WITH(Clamp(1.0f, 0.0f), Catch::Contains("clamp") && Catch::Contains("lo <= hi"));
  CHECK_NOTHROW(Clamp(0.5f, 0.5f));
}

TEST_CASE("activations reject an input with no elements") {
  Var empty;
  ReLU relu;
  Clamp clamp(0.0f, 1.0f);
  Tape tape;
  CHECK_THROWS_AS(relu.forward(empty, tape), Error);
  CHECK_THROWS_WITH(clamp.forward(empty, tape), Catch::Contains("clamp: empty input"));
}
