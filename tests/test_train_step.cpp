// train_step and compute_gradients (models/train_step.h): the step written
// out by hand gives the same bits; gradients are zeroed once per step, not
// accumulated across steps; the logits reader sees the logits before
// backward frees them; a non-finite loss leaves the parameters untouched.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "engine/optimizer.h"
#include "engine/rng.h"
#include "layers/loss.h"
#include "models/model.h"
#include "models/train_step.h"

using namespace taper;

namespace {

const char* kTiny = R"({
  "name": "tiny", "input": [1, 6, 6], "classes": 3,
  "layers": [
    {"name": "conv", "type": "conv", "out_channels": 4, "kernel": 3, "padding": 1, "bias": false},
    {"name": "bn", "type": "batchnorm"},
    {"name": "relu", "type": "relu"},
    {"name": "pool", "type": "maxpool", "kernel": 2},
    {"name": "flatten", "type": "flatten"},
    {"name": "fc", "type": "linear", "out_features": "classes"}
  ]})";

std::unique_ptr<Model> tiny_model() {
  auto model = std::make_unique<Model>(parse_model_json(kTiny, "tiny.json"), BuildOptions{});
  model->init(7);
  return model;
}

void make_batch(Var& x, std::vector<int64_t>& labels, uint64_t seed) {
  x.data.resize({6, 1, 6, 6});
  labels.resize(6);
  Rng rng(seed);
  for (int64_t i = 0; i < x.data.numel(); ++i) x.data[i] = rng.normal();
  for (size_t n = 0; n < labels.size(); ++n) labels[n] = static_cast<int64_t>(n % 3);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.same_shape(b) && std::memcmp(a.data(), b.data(), sizeof(float) * a.numel()) == 0;
}

std::vector<Tensor> weights(Model& model) {
  std::vector<Tensor> out;
  for (auto& p : model.parameters()) out.push_back(p.var->data.clone());
  return out;
}

}  // namespace

TEST_CASE("train_step is zero_grad, forward, loss, backward, step, bit for bit") {
  auto a = tiny_model(), b = tiny_model();
  SGD opt_a(a->param_groups(1e-3f), 0.05f, 0.9f, true);
  SGD opt_b(b->param_groups(1e-3f), 0.05f, 0.9f, true);
  SoftmaxCrossEntropy ce_a, ce_b;
  Tape tape;
  Var x;
  std::vector<int64_t> labels;
  for (int step = 0; step < 4; ++step) {
    make_batch(x, labels, 10 + step);
    const StepResult r = train_step(*a, opt_a, ce_a, x, labels, tape);

    opt_b.zero_grad();
    Tape by_hand;
    Var& logits = b->forward(x, by_hand);
    Var& loss = ce_b.forward(logits, labels, by_hand);
    const double l = loss.data[0];
    const int64_t correct = count_correct(logits.data, labels);
    by_hand.backward(loss);
    opt_b.step();

    CHECK(r.finite);
    CHECK(r.loss == l);
    CHECK(r.correct == correct);
    CHECK(tape.size() == 0);  // backward emptied the tape
  }
  std::vector<Tensor> wa = weights(*a), wb = weights(*b);
  REQUIRE(wa.size() == wb.size());
  for (size_t i = 0; i < wa.size(); ++i) CHECK(same_bits(wa[i], wb[i]));
}

TEST_CASE("compute_gradients zeroes the gradients first and reads the logits before backward") {
  auto model = tiny_model();
  std::vector<ParamGroup> groups = model->param_groups(0.0f);
  SoftmaxCrossEntropy ce;
  Tape tape;
  Var x;
  std::vector<int64_t> labels;
  make_batch(x, labels, 3);
  model->set_training(false);  // running statistics: two passes see the same function

  Tensor seen;
  int calls = 0;
  const StepResult first = compute_gradients(*model, groups, ce, x, labels, tape, [&](const Var& logits) {
    seen = logits.data.clone();
    ++calls;
  });
  CHECK(calls == 1);
  REQUIRE(seen.shape() == Shape{6, 3});
  CHECK(first.correct == count_correct(seen, labels));
  std::vector<Tensor> grads;
  for (auto& p : model->parameters()) grads.push_back(p.var->grad.clone());

  const StepResult second = compute_gradients(*model, groups, ce, x, labels, tape);
  CHECK(second.loss == first.loss);
  auto params = model->parameters();
  REQUIRE(params.size() == grads.size());
  int nonzero = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    CHECK(same_bits(params[i].var->grad, grads[i]));  // the same gradient, not twice it
    for (int64_t k = 0; k < grads[i].numel(); ++k) nonzero += grads[i][k] != 0.0f;
  }
  CHECK(nonzero > 0);
}

TEST_CASE("a non-finite loss makes no update and says so") {
  auto model = tiny_model();
  Adam opt(model->param_groups(0.0f), 0.01f);
  SoftmaxCrossEntropy ce;
  Tape tape;
  Var x;
  std::vector<int64_t> labels;
  make_batch(x, labels, 5);
  const StepResult good = train_step(*model, opt, ce, x, labels, tape);
  CHECK(good.finite);
  NamedParam bias = model->parameters().back();
  REQUIRE(bias.name == "fc.bias");
  bias.var->data[1] = std::numeric_limits<float>::quiet_NaN();  // every row's logit 1, so the loss, is NaN
  std::vector<Tensor> before = weights(*model);

  const StepResult bad = train_step(*model, opt, ce, x, labels, tape);
  CHECK_FALSE(bad.finite);
  CHECK(std::isnan(bad.loss));
  CHECK(tape.size() == 0);
  std::vector<Tensor> after = weights(*model);
  REQUIRE(before.size() == after.size());
  for (size_t i = 0; i < before.size(); ++i) CHECK(same_bits(before[i], after[i]));
}

TEST_CASE("compute_gradients needs a recording tape") {
  auto model = tiny_model();
  std::vector<ParamGroup> groups = model->param_groups(0.0f);
  SoftmaxCrossEntropy ce;
  Tape tape;
  Var x;
  std::vector<int64_t> labels;
  make_batch(x, labels, 5);
  NoGrad no_grad(tape);
  CHECK_THROWS_WITH(compute_gradients(*model, groups, ce, x, labels, tape), Catch::Contains("does not record"));
}
