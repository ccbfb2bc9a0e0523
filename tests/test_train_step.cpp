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
#include "support/tiny_cnn.h"

using namespace taper;

namespace {

std::unique_ptr<Model> tiny_model() {
  auto model = std::make_unique<Model>(parse_model_json(testing::kTinyCnn, "tiny.json"), BuildOptions{});
  model->init(7);
  return model;
}

// A batch of 6 random images, labels 0, 1, 0, 1, ...
void make_batch(Var& x, std::vector<int64_t>& labels, uint64_t seed) {
  x.data.resize({6, 1, 8, 8});
  labels.resize(6);
  Rng rng(seed);
  for (int64_t i = 0; i < x.data.numel(); ++i) x.data[i] = rng.normal();
  for (size_t n = 0; n < labels.size(); ++n) labels[n] = static_cast<int64_t>(n % 2);
}

// One model and what a step needs besides an optimizer.
struct Setup {
  std::unique_ptr<Model> model = tiny_model();
  std::vector<ParamGroup> groups = model->param_groups(0.0f);
  SoftmaxCrossEntropy ce;
  Tape tape;
  Var x;
  std::vector<int64_t> labels;
  explicit Setup(uint64_t batch_seed) { make_batch(x, labels, batch_seed); }
};

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
  Setup s(3);
  s.model->set_training(false);  // running statistics: two passes compute the same function
  Tensor seen;
  int calls = 0;
  auto read_logits = [&](const Var& logits) {
    seen = logits.data.clone();
    ++calls;
  };
  const StepResult first = compute_gradients(*s.model, s.groups, s.ce, s.x, s.labels, s.tape, read_logits);
  CHECK(calls == 1);
  REQUIRE(seen.shape() == Shape{6, 2});
  CHECK(first.correct == count_correct(seen, s.labels));
  std::vector<Tensor> grads;
  for (auto& p : s.model->parameters()) grads.push_back(p.var->grad.clone());

  const StepResult second = compute_gradients(*s.model, s.groups, s.ce, s.x, s.labels, s.tape);
  CHECK(second.loss == first.loss);
  auto params = s.model->parameters();
  REQUIRE(params.size() == grads.size());
  int nonzero = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    CHECK(same_bits(params[i].var->grad, grads[i]));  // the same gradient, not twice it
    for (int64_t k = 0; k < grads[i].numel(); ++k) nonzero += grads[i][k] != 0.0f;
  }
  CHECK(nonzero > 0);
}

TEST_CASE("a non-finite loss makes no update and says so") {
  Setup s(5);
  Adam opt(s.groups, 0.01f);
  const StepResult good = train_step(*s.model, opt, s.ce, s.x, s.labels, s.tape);
  CHECK(good.finite);
  NamedParam bias = s.model->parameters().back();
  REQUIRE(bias.name == "fc.bias");
  bias.var->data[1] = std::numeric_limits<float>::quiet_NaN();  // every row's logit 1, so the loss, is NaN
  std::vector<Tensor> before = weights(*s.model);

  const StepResult bad = train_step(*s.model, opt, s.ce, s.x, s.labels, s.tape);
  CHECK_FALSE(bad.finite);
  CHECK(std::isnan(bad.loss));
  CHECK(s.tape.size() == 0);
  std::vector<Tensor> after = weights(*s.model);
  REQUIRE(before.size() == after.size());
  for (size_t i = 0; i < before.size(); ++i) CHECK(same_bits(before[i], after[i]));
}

TEST_CASE("compute_gradients needs a recording tape") {
  Setup s(5);
  NoGrad no_grad(s.tape);
  CHECK_THROWS_WITH(compute_gradients(*s.model, s.groups, s.ce, s.x, s.labels, s.tape),
                    Catch::Contains("does not record"));
}
