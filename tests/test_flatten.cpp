#include <catch2/catch.hpp>

#include "layers/flatten.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

TEST_CASE("flatten is a view of (N, C, H, W) as (N, C*H*W)") {
  Var x(random_tensor({2, 3, 4, 5}, 1));
  Flatten op;
  Tape tape;
  const Tensor& y = op.forward(x, tape).data;
  REQUIRE(y.shape() == Shape{2, 60});
  CHECK(y.data() == x.data.data());  // no copy
  for (int64_t i = 0; i < x.data.numel(); ++i) CHECK(y[i] == x.data[i]);

  Var x2(random_tensor({3, 7}, 2));
  CHECK(op.forward(x2, tape).data.shape() == Shape{3, 7});
}

TEST_CASE("flatten gradients") {
  Var x(random_tensor({2, 3, 2, 2}, 3));
  Flatten op;
  check_gradients([&](Tape& t) -> Var& { return op.forward(x, t); }, {&x}, "flatten");
}

TEST_CASE("flatten backward adds into an existing gradient") {
  Var x(random_tensor({2, 2, 2}, 4), true);
  x.grad = Tensor::full({2, 2, 2}, 0.5f);
  Flatten op;
  Tape tape;
  Var& y = op.forward(x, tape);
  tape.backward(y);
  REQUIRE(x.grad.shape() == Shape{2, 2, 2});
  for (int64_t i = 0; i < 8; ++i) CHECK(x.grad[i] == 1.5f);
}

TEST_CASE("flatten rejects a 1-d input") {
  Var x(Tensor({6}));
  Flatten op;
  Tape tape;
  CHECK_THROWS_WITH(op.forward(x, tape), Catch::Contains("flatten") && Catch::Contains("(6)"));
}
