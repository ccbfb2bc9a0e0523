#include <catch2/catch.hpp>
#include <cmath>

#include "engine/error.h"
#include "engine/parallel.h"
#include "layers/batchnorm.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

// float32 round-off on values of order 1..100.
constexpr double kValueTol = 1e-5;

// The parameters and buffers of one batch-norm layer with C channels.
struct BnParams {
  Var gamma, beta;
  Tensor running_mean, running_var;
  explicit BnParams(int64_t C, uint64_t seed)
      : gamma(random_tensor({C}, seed, 0.5f, 1.5f)),
        beta(random_tensor({C}, seed + 1)),
        running_mean(random_tensor({C}, seed + 2)),
        running_var(random_tensor({C}, seed + 3, 0.5f, 1.5f)) {}
};

TEST_CASE("batchnorm training: batch statistics and running-stat update, (N, C)") {
  // Channel 0 holds 1, 2, 3, 4: mean 2.5, biased variance 1.25, unbiased 5/3.
  // Channel 1 holds -1, 1, -1, 1: mean 0, biased variance 1, unbiased 4/3.
  Var x(Tensor::from({4, 2}, {1, -1, 2, 1, 3, -1, 4, 1}));
  Var gamma(Tensor::from({2}, {2.0f, 0.5f})), beta(Tensor::from({2}, {0.1f, -0.2f}));
  Tensor rmean = Tensor::from({2}, {0.5f, -1.0f}), rvar = Tensor::from({2}, {1.0f, 2.0f});
  BatchNorm op;  // momentum 0.1, eps 1e-5
  Tape tape;
  const Tensor& y = op.forward(x, gamma, beta, rmean, rvar, tape).data;
  REQUIRE(y.shape() == Shape{4, 2});
  for (int n = 0; n < 4; ++n) {
    CHECK(y[2 * n] == Approx(2.0 * (x.data[2 * n] - 2.5) / std::sqrt(1.25 + 1e-5) + 0.1).margin(kValueTol));
    CHECK(y[2 * n + 1] == Approx(0.5 * x.data[2 * n + 1] / std::sqrt(1.0 + 1e-5) - 0.2).margin(kValueTol));
  }
  // r = 0.9 r + 0.1 stat, the variance unbiased.
  CHECK(rmean[0] == Approx(0.9 * 0.5 + 0.1 * 2.5).margin(kValueTol));    // 0.7
  CHECK(rmean[1] == Approx(0.9 * -1.0 + 0.1 * 0.0).margin(kValueTol));   // -0.9
  CHECK(rvar[0] == Approx(0.9 * 1.0 + 0.1 * 5.0 / 3.0).margin(kValueTol));  // 1.0666667
  CHECK(rvar[1] == Approx(0.9 * 2.0 + 0.1 * 4.0 / 3.0).margin(kValueTol));  // 1.9333333
}

TEST_CASE("batchnorm training: statistics over N, H, W of (N, C, H, W)") {
  // x (2, 2, 1, 2): channel 0 holds 1, 3 (n = 0) and 5, 7 (n = 1): mean 4,
  // biased variance 5, unbiased 20/3. Channel 1 holds 10, 20, 30, 40: mean 25,
  // biased variance 125, unbiased 500/3.
  Var x(Tensor::from({2, 2, 1, 2}, {1, 3, 10, 20, 5, 7, 30, 40}));
  Var gamma(Tensor::full({2}, 1.0f)), beta(Tensor::full({2}, 0.0f));
  Tensor rmean = Tensor::full({2}, 0.0f), rvar = Tensor::full({2}, 1.0f);
  BatchNorm op;
  op.momentum = 0.5f;
  Tape tape;
  const Tensor& y = op.forward(x, gamma, beta, rmean, rvar, tape).data;
  const double s0 = std::sqrt(5.0 + 1e-5), s1 = std::sqrt(125.0 + 1e-5);
  const double expected[] = {-3 / s0, -1 / s0, -15 / s1, -5 / s1, 1 / s0, 3 / s0, 5 / s1, 15 / s1};
  for (int i = 0; i < 8; ++i) CHECK(y[i] == Approx(expected[i]).margin(kValueTol));
  CHECK(rmean[0] == Approx(2.0).margin(kValueTol));
  CHECK(rmean[1] == Approx(12.5).margin(kValueTol));
  CHECK(rvar[0] == Approx(0.5 + 0.5 * 20.0 / 3.0).margin(kValueTol));   // 3.8333333
  CHECK(rvar[1] == Approx(0.5 + 0.5 * 500.0 / 3.0).margin(1e-4));       // 83.833333
}

TEST_CASE("batchnorm eval uses the running statistics and leaves them alone") {
  Var x(Tensor::from({2, 2}, {3, -1, 5, -3}));
  Var gamma(Tensor::from({2}, {2.0f, 3.0f})), beta(Tensor::from({2}, {1.0f, -1.0f}));
  Tensor rmean = Tensor::from({2}, {1.0f, -2.0f}), rvar = Tensor::from({2}, {4.0f, 0.25f});
  BatchNorm op;
  op.training = false;
  op.eps = 0.0f;  // exact: the standard deviations are 2 and 0.5
  Tape tape;
  const Tensor& y = op.forward(x, gamma, beta, rmean, rvar, tape).data;
  // y = gamma (x - mean) / std + beta
  const float expected[] = {2 * (3 - 1) / 2.f + 1, 3 * (-1 + 2) / 0.5f - 1,
                            2 * (5 - 1) / 2.f + 1, 3 * (-3 + 2) / 0.5f - 1};
  for (int i = 0; i < 4; ++i) CHECK(y[i] == expected[i]);
  CHECK(rmean[0] == 1.0f);
  CHECK(rmean[1] == -2.0f);
  CHECK(rvar[0] == 4.0f);
  CHECK(rvar[1] == 0.25f);
  // Eval accepts one value per channel.
  Var one(Tensor::from({1, 2}, {0.0f, 0.0f}));
  CHECK_NOTHROW(op.forward(one, gamma, beta, rmean, rvar, tape));
}

TEST_CASE("batchnorm training normalizes each channel to mean beta, std gamma") {
  Var x(random_tensor({4, 3, 5, 5}, 1, -3.0f, 5.0f));
  BnParams p(3, 10);
  BatchNorm op;
  Tape tape;
  const Tensor& y = op.forward(x, p.gamma, p.beta, p.running_mean, p.running_var, tape).data;
  for (int64_t c = 0; c < 3; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t i = 0; i < 25; ++i) sum += y[(n * 3 + c) * 25 + i];
    const double mean = sum / 100;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t i = 0; i < 25; ++i) sq += std::pow(y[(n * 3 + c) * 25 + i] - mean, 2);
    CHECK(mean == Approx(p.beta.data[c]).margin(kValueTol));
    CHECK(std::sqrt(sq / 100) == Approx(p.gamma.data[c]).margin(1e-4));
  }
}

TEST_CASE("batchnorm gradients in training mode, (N, C, H, W)") {
  Var x(random_tensor({3, 2, 2, 3}, 1));
  BnParams p(2, 20);
  BatchNorm op;
  check_gradients(
      [&](Tape& t) -> Var& { return op.forward(x, p.gamma, p.beta, p.running_mean, p.running_var, t); },
      {&x, &p.gamma, &p.beta}, "batchnorm train 4-d");
}

TEST_CASE("batchnorm gradients in training mode, (N, C)") {
  Var x(random_tensor({6, 4}, 2));
  BnParams p(4, 30);
  BatchNorm op;
  check_gradients(
      [&](Tape& t) -> Var& { return op.forward(x, p.gamma, p.beta, p.running_mean, p.running_var, t); },
      {&x, &p.gamma, &p.beta}, "batchnorm train 2-d");
}

TEST_CASE("batchnorm gradients in eval mode") {
  Var x(random_tensor({2, 3, 3, 2}, 3));
  BnParams p(3, 40);
  BatchNorm op;
  op.training = false;
  check_gradients(
      [&](Tape& t) -> Var& { return op.forward(x, p.gamma, p.beta, p.running_mean, p.running_var, t); },
      {&x, &p.gamma, &p.beta}, "batchnorm eval 4-d");
  Var x2(random_tensor({3, 3}, 4));
  check_gradients(
      [&](Tape& t) -> Var& { return op.forward(x2, p.gamma, p.beta, p.running_mean, p.running_var, t); },
      {&x2, &p.gamma, &p.beta}, "batchnorm eval 2-d");
}

TEST_CASE("batchnorm backward follows the mode forward ran in") {
  Var x(random_tensor({4, 3}, 5), true);
  BnParams p(3, 50);
  BatchNorm op;
  Tape tape;
  op.forward(x, p.gamma, p.beta, p.running_mean, p.running_var, tape);
  tape.backward(op.out, random_tensor({4, 3}, 6));
  Tensor expected = x.grad.clone();
  zero_grad({&x});
  op.forward(x, p.gamma, p.beta, p.running_mean, p.running_var, tape);
  op.training = false;  // flipped between forward and backward
  tape.backward(op.out, random_tensor({4, 3}, 6));
  for (int64_t i = 0; i < x.grad.numel(); ++i) CHECK(x.grad[i] == expected[i]);
}

TEST_CASE("batchnorm gives the same result on 1 and 2 threads") {
  // Large enough to run the channel loop in parallel.
  Var x(random_tensor({8, 16, 16, 16}, 7), true);
  BnParams p(16, 60);
  const int threads = num_threads();
  Tensor y[2], dx[2], rm[2];
  for (int t = 0; t < 2; ++t) {
    set_num_threads(t + 1);
    BnParams q = p;
    q.running_mean = p.running_mean.clone();
    q.running_var = p.running_var.clone();
    BatchNorm op;
    Tape tape;
    zero_grad({&x});
    y[t] = op.forward(x, q.gamma, q.beta, q.running_mean, q.running_var, tape).data.clone();
    tape.backward(op.out, random_tensor(x.data.shape(), 8));
    dx[t] = x.grad.clone();
    rm[t] = q.running_mean;
  }
  set_num_threads(threads);
  int64_t differ = 0;
  for (int64_t i = 0; i < x.data.numel(); ++i) differ += (y[0][i] != y[1][i]) + (dx[0][i] != dx[1][i]);
  for (int64_t c = 0; c < 16; ++c) differ += rm[0][c] != rm[1][c];
  CHECK(differ == 0);
}

TEST_CASE("batchnorm training with one value per channel is an error") {
  BnParams p(3, 70);
  BatchNorm op;
  Tape tape;
  Var x4(Tensor({1, 3, 1, 1})), x2(Tensor({1, 3}));
  CHECK_THROWS_WITH(op.forward(x4, p.gamma, p.beta, p.running_mean, p.running_var, tape),
                    Catch::Contains("batchnorm") && Catch::Contains("more than one value per channel"));
  CHECK_THROWS_AS(op.forward(x2, p.gamma, p.beta, p.running_mean, p.running_var, tape), Error);
  Var ok(Tensor({1, 3, 1, 2}));  // N = 1 is fine when H W > 1
  CHECK_NOTHROW(op.forward(ok, p.gamma, p.beta, p.running_mean, p.running_var, tape));
}

TEST_CASE("batchnorm rejects mismatched shapes") {
  BnParams p(3, 80);
  BatchNorm op;
  Tape tape;
  Var x3(Tensor({2, 3, 4}));
  CHECK_THROWS_WITH(op.forward(x3, p.gamma, p.beta, p.running_mean, p.running_var, tape),
                    Catch::Contains("(2, 3, 4)") && Catch::Contains("(N, C, H, W)"));
  Var x(Tensor({2, 4, 2, 2}));
  CHECK_THROWS_WITH(op.forward(x, p.gamma, p.beta, p.running_mean, p.running_var, tape),
                    Catch::Contains("gamma has shape (3)") && Catch::Contains("expected (4)"));
  Var x_ok(Tensor({2, 3, 2, 2}));
  Tensor bad_var({4});
  CHECK_THROWS_WITH(op.forward(x_ok, p.gamma, p.beta, p.running_mean, bad_var, tape),
                    Catch::Contains("running_var"));
  op.momentum = 1.5f;
  CHECK_THROWS_WITH(op.forward(x_ok, p.gamma, p.beta, p.running_mean, p.running_var, tape),
                    Catch::Contains("momentum"));
}
