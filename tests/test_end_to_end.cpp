// A tiny CNN learns a synthetic separable task through the library API:
// conv -> batch norm -> ReLU -> max pool -> linear, SGD with momentum. The loss
// must fall below kTargetLoss, and two runs with the same seed and thread
// count must agree bit for bit.
#include <catch2/catch.hpp>

#include "engine/optimizer.h"
#include "engine/parallel.h"
#include "engine/rng.h"
#include "layers/loss.h"
#include "models/model.h"
#include "models/train_step.h"
#include "support/tiny_cnn.h"

using namespace taper;
using taper::testing::kTinyCnn;

namespace {

constexpr double kTargetLoss = 0.05;
constexpr int kSteps = 60;

// Class 0: a bright left half; class 1: a bright right half; plus noise.
void make_batch(Tensor& x, std::vector<int64_t>& labels, uint64_t seed) {
  const int64_t N = 32;
  x.resize({N, 1, 8, 8});
  labels.resize(N);
  Rng rng(seed);
  for (int64_t n = 0; n < N; ++n) {
    labels[n] = n % 2;
    for (int64_t i = 0; i < 64; ++i) {
      bool left = (i % 8) < 4;
      x[n * 64 + i] = rng.normal() * 0.3f + ((left == (labels[n] == 0)) ? 1.0f : 0.0f);
    }
  }
}

std::vector<double> train_losses(int threads) {
  set_num_threads(threads);
  Model model(parse_model_json(kTinyCnn, "tiny.json"), BuildOptions{});
  model.init(3);
  SGD sgd(model.param_groups(1e-4f), 0.05f, 0.9f, false);
  SoftmaxCrossEntropy ce;
  Var x;
  std::vector<int64_t> labels;
  std::vector<double> losses;
  for (int step = 0; step < kSteps; ++step) {
    make_batch(x.data, labels, 100 + step);
    Tape tape;
    losses.push_back(train_step(model, sgd, ce, x, labels, tape).loss);
  }
  return losses;
}

}  // namespace

TEST_CASE("a tiny CNN learns a separable task, deterministically") {
  std::vector<double> a = train_losses(2);
  CHECK(a.front() > 0.3);  // it starts near chance (ln 2 = 0.69)
  double last = (a[kSteps - 1] + a[kSteps - 2] + a[kSteps - 3]) / 3.0;
  CHECK(last < kTargetLoss);
  std::vector<double> b = train_losses(2);
  CHECK(a == b);  // bit for bit
  std::vector<double> one = train_losses(1);
  CHECK(one.back() < kTargetLoss * 2);
}
