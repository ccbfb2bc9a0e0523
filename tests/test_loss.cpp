#include <catch2/catch.hpp>
#include <cmath>

#include "engine/error.h"
#include "layers/loss.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

// float32 round-off of a loss of order 1.
constexpr double kLossTol = 1e-6;

TEST_CASE("cross-entropy values") {
  // Row 0: -log softmax(1, 2, 3)[2] = log(e^1 + e^2 + e^3) - 3 = log(1 + e^-1 + e^-2).
  // Row 1: -log softmax(0, 0, 0)[1] = log 3.
  Var z(Tensor::from({2, 3}, {1.0f, 2.0f, 3.0f, 0.0f, 0.0f, 0.0f}));
  SoftmaxCrossEntropy op;
  Tape tape;
  const Tensor& loss = op.forward(z, {2, 1}, tape).data;
  CHECK(loss.ndim() == 0);
  CHECK(loss.numel() == 1);
  const double expected = (std::log(1.0 + std::exp(-1.0) + std::exp(-2.0)) + std::log(3.0)) / 2.0;
  CHECK(loss[0] == Approx(expected).margin(kLossTol));
  CHECK(loss[0] == Approx(0.7531091).margin(kLossTol));
}

TEST_CASE("cross-entropy stays finite for huge logits") {
  // exp(1e4) overflows even a double; after subtracting the row max the
  // largest term is exp(0). Row 0: label at the max, loss log(1 + e^-1e4 + e^-2e4) = 0.
  // Row 1: label 1e4 below the max, loss 1e4. Row 2: label 2e4 below, loss 2e4.
  Var z(Tensor::from({3, 3}, {1e4f, 0.0f, -1e4f, 1e4f, 0.0f, -1e4f, -1e4f, 1e4f, 0.0f}));
  SoftmaxCrossEntropy op;
  Tape tape;
  z.requires_grad = true;
  Var& loss = op.forward(z, {0, 1, 0}, tape);
  CHECK(loss.data[0] == (0.0f + 1e4f + 2e4f) / 3.0f);
  tape.backward(loss);
  // Gradient (p - onehot) / N: the softmax is one-hot at each row's max.
  const float third = 1.0f / 3.0f;
  const float expected[] = {0, 0, 0, third, -third, 0, -third, third, 0};
  for (int i = 0; i < 9; ++i) CHECK(z.grad[i] == Approx(expected[i]).margin(1e-7));
}

TEST_CASE("cross-entropy gradients") {
  Var z(random_tensor({5, 4}, 1, -2.0f, 2.0f));
  const std::vector<int64_t> labels = {0, 3, 1, 1, 2};
  SoftmaxCrossEntropy op;
  check_gradients([&](Tape& t) -> Var& { return op.forward(z, labels, t); }, {&z}, "cross_entropy");
}

TEST_CASE("cross-entropy rejects bad labels and shapes") {
  Var z(Tensor({2, 5}));
  SoftmaxCrossEntropy op;
  Tape tape;
  CHECK_THROWS_WITH(op.forward(z, {1, 5}, tape),
                    Catch::Contains("label 5") && Catch::Contains("5 classes"));
  CHECK_THROWS_WITH(op.forward(z, {-1, 0}, tape), Catch::Contains("label -1"));
  CHECK_THROWS_WITH(op.forward(z, {1}, tape), Catch::Contains("1 labels") && Catch::Contains("(2, 5)"));
  Var z3(Tensor({2, 5, 1}));
  CHECK_THROWS_WITH(op.forward(z3, {0, 0}, tape), Catch::Contains("(N, K)"));
}

TEST_CASE("count_correct takes the first maximum on ties") {
  Tensor z = Tensor::from({4, 3}, {0.1f, 0.9f, 0.3f,    // argmax 1
                                   3.0f, 3.0f, -1.0f,   // tie: argmax 0
                                   -5.0f, -4.0f, -4.0f, // tie: argmax 1
                                   0.0f, 0.0f, 2.0f});  // argmax 2
  CHECK(count_correct(z, {1, 0, 1, 2}) == 4);
  CHECK(count_correct(z, {1, 1, 2, 2}) == 2);
  CHECK(count_correct(z, {0, 2, 0, 1}) == 0);
  CHECK_THROWS_WITH(count_correct(z, {0, 0, 0, 3}), Catch::Contains("label 3"));
}
