#include <catch2/catch.hpp>

#include "layers/add.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

TEST_CASE("add forward values") {
  Var a(Tensor::from({2, 2}, {1.0f, -2.0f, 0.5f, 4.0f}));
  Var b(Tensor::from({2, 2}, {0.25f, 2.0f, -1.5f, 8.0f}));
  Add op;
  Tape tape;
  const Tensor& y = op.forward(a, b, tape).data;
  REQUIRE(y.shape() == Shape{2, 2});
  const float expected[] = {1.25f, 0.0f, -1.0f, 12.0f};
  for (int i = 0; i < 4; ++i) CHECK(y[i] == expected[i]);
}

TEST_CASE("add gradients") {
  Var a(random_tensor({2, 3, 4, 5}, 1)), b(random_tensor({2, 3, 4, 5}, 2));
  Add op;
  check_gradients([&](Tape& t) -> Var& { return op.forward(a, b, t); }, {&a, &b}, "add");
}

TEST_CASE("add with one Var as both inputs gives it twice the gradient") {
  Var a(random_tensor({3, 4}, 3));
  Add op;
  check_gradients([&](Tape& t) -> Var& { return op.forward(a, a, t); }, {&a}, "add(a, a)");

  zero_grad({&a});
  Tape tape;
  Var& y = op.forward(a, a, tape);
  for (int64_t i = 0; i < a.data.numel(); ++i) CHECK(y.data[i] == 2.0f * a.data[i]);
  tape.backward(y);
  for (int64_t i = 0; i < a.grad.numel(); ++i) CHECK(a.grad[i] == 2.0f);
}

TEST_CASE("add gradient reaches only the inputs that require it") {
  Var a(random_tensor({5}, 4), true), b(random_tensor({5}, 5), false);
  Add op;
  Tape tape;
  Var& y = op.forward(a, b, tape);
  tape.backward(y);
  for (int64_t i = 0; i < 5; ++i) CHECK(a.grad[i] == 1.0f);
  CHECK(b.grad.empty());
}

TEST_CASE("add rejects different shapes and names both") {
  Var a(Tensor({2, 3})), b(Tensor({3, 2}));
  Add op;
  Tape tape;
  CHECK_THROWS_WITH(op.forward(a, b, tape),
                    Catch::Contains("add") && Catch::Contains("(2, 3)") && Catch::Contains("(3, 2)"));
}
