#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>

#include "engine/error.h"
#include "engine/optimizer.h"

using namespace taper;

namespace {

// The optimizers run in float32; the expected values below are the same
// arithmetic in double, starting from the same float settings. A few float
// roundings per step stay far below this, while a wrong coefficient (a
// missing bias correction, 1 - beta swapped for beta, a sign) is off by
// percents.
constexpr double kRelTol = 1e-6;
constexpr double kAbsTol = 1e-7;

void set_grad(Var& v, const std::vector<float>& g) { v.grad = Tensor::from(v.data.shape(), g); }

void expect_values(const Var& v, const std::vector<double>& expected) {
  REQUIRE(v.data.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(v.data[i] == Approx(expected[i]).epsilon(kRelTol).margin(kAbsTol));
  }
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.same_shape(b) && std::memcmp(a.data(), b.data(), sizeof(float) * a.numel()) == 0;
}

}  // namespace

TEST_CASE("sgd without momentum is p -= lr * (g + wd p)") {
  Var w(Tensor::from({2}, {1.0f, -2.0f}), true);
  SGD opt({{{{"w", &w}}, 0.0f}}, 0.1f, 0.0f, false);
  set_grad(w, {0.5f, 0.25f});
  opt.step();
  expect_values(w, {1.0 - 0.1 * 0.5, -2.0 - 0.1 * 0.25});  // 0.95, -2.025
  opt.lr = 0.5f;  // the schedule may change lr between steps
  set_grad(w, {-1.0f, 4.0f});
  opt.step();
  expect_values(w, {0.95 + 0.5, -2.025 - 2.0});
}

TEST_CASE("sgd with momentum, dampening and weight decay matches torch.optim.SGD") {
  Var w(Tensor::from({2}, {1.0f, -2.0f}), true);
  SGD opt({{{{"w", &w}}, 0.01f}}, 0.1f, 0.9f, false, 0.1f);
  const double lr = 0.1f, wd = 0.01f, mom = 0.9f, damp = 0.1f;
  double p0 = 1.0, p1 = -2.0, b0, b1, g0, g1;

  // Step 1: the buffer starts as the gradient itself (no dampening).
  set_grad(w, {0.5f, 0.25f});
  opt.step();
  g0 = 0.5 + wd * p0, b0 = g0, p0 -= lr * b0;
  g1 = 0.25 + wd * p1, b1 = g1, p1 -= lr * b1;
  expect_values(w, {p0, p1});
  CHECK(w.data[0] == Approx(0.949).epsilon(kRelTol));  // 1 - 0.1 * (0.5 + 0.01)

  // Steps 2 and 3: buf = momentum buf + (1 - dampening) g.
  set_grad(w, {-1.0f, 0.5f});
  opt.step();
  g0 = -1.0 + wd * p0, b0 = mom * b0 + (1 - damp) * g0, p0 -= lr * b0;
  g1 = 0.5 + wd * p1, b1 = mom * b1 + (1 - damp) * g1, p1 -= lr * b1;
  expect_values(w, {p0, p1});

  set_grad(w, {0.25f, -0.75f});
  opt.step();
  g0 = 0.25 + wd * p0, b0 = mom * b0 + (1 - damp) * g0, p0 -= lr * b0;
  g1 = -0.75 + wd * p1, b1 = mom * b1 + (1 - damp) * g1, p1 -= lr * b1;
  expect_values(w, {p0, p1});
}

TEST_CASE("sgd with Nesterov momentum steps along g + momentum * buf") {
  Var w(Tensor::from({2}, {0.5f, 3.0f}), true);
  SGD opt({{{{"w", &w}}, 0.001f}}, 0.05f, 0.9f, true);
  const double lr = 0.05f, wd = 0.001f, mom = 0.9f;
  double p0 = 0.5, p1 = 3.0, b0, b1, g0, g1;

  set_grad(w, {2.0f, -1.0f});
  opt.step();
  g0 = 2.0 + wd * p0, b0 = g0, p0 -= lr * (g0 + mom * b0);
  g1 = -1.0 + wd * p1, b1 = g1, p1 -= lr * (g1 + mom * b1);
  expect_values(w, {p0, p1});
  CHECK(w.data[0] == Approx(0.5 - 0.05 * 1.9 * 2.0005).epsilon(kRelTol));

  for (const std::vector<float>& grad : {std::vector<float>{-0.5f, 0.125f}, {1.5f, 0.75f}}) {
    set_grad(w, grad);
    opt.step();
    g0 = grad[0] + wd * p0, b0 = mom * b0 + g0, p0 -= lr * (g0 + mom * b0);
    g1 = grad[1] + wd * p1, b1 = mom * b1 + g1, p1 -= lr * (g1 + mom * b1);
    expect_values(w, {p0, p1});
  }
}

// eps = 1e-3 against gradients ~0.05 so that where eps enters matters.
TEST_CASE("adam matches torch.optim.Adam, with and without L2 weight decay") {
  for (const float wd_f : {0.0f, 0.02f}) {
    INFO("weight decay " << wd_f);
    Var w(Tensor::from({2}, {1.0f, -0.5f}), true);
    Adam opt({{{{"w", &w}}, wd_f}}, 0.01f, 0.9f, 0.999f, 1e-3f);
    const double lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-3f, wd = wd_f;
    double p[2] = {1.0, -0.5}, m[2] = {0, 0}, v[2] = {0, 0};
    const std::vector<std::vector<float>> grads = {
        {0.05f, -0.02f}, {-0.03f, -0.04f}, {0.08f, 0.01f}, {0.02f, -0.06f}};
    for (int t = 1; t <= 4; ++t) {
      set_grad(w, grads[t - 1]);
      opt.step();
      for (int i = 0; i < 2; ++i) {
        const double g = grads[t - 1][i] + wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        const double m_hat = m[i] / (1 - std::pow(b1, t));
        const double v_hat = v[i] / (1 - std::pow(b2, t));
        p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
      }
      INFO("step " << t);
      expect_values(w, {p[0], p[1]});
    }
  }
  // First step by hand: m_hat = g, sqrt(v_hat) = |g|, so p -= lr g / (|g| + eps).
  Var w(Tensor::from({1}, {1.0f}), true);
  Adam opt({{{{"w", &w}}, 0.0f}}, 0.01f, 0.9f, 0.999f, 1e-3f);
  set_grad(w, {0.05f});
  opt.step();
  CHECK(w.data[0] == Approx(1.0 - 0.01 * 0.05 / 0.051).epsilon(kRelTol));
}

TEST_CASE("adamw decays the weights by (1 - lr wd) and keeps wd out of the moments") {
  Var w(Tensor::from({2}, {2.0f, -1.0f}), true);
  Adam opt({{{{"w", &w}}, 0.1f}}, 0.01f, 0.8f, 0.99f, 1e-3f, true);
  const double lr = 0.01f, b1 = 0.8f, b2 = 0.99f, eps = 1e-3f, wd = 0.1f;
  double p[2] = {2.0, -1.0}, m[2] = {0, 0}, v[2] = {0, 0};
  const std::vector<std::vector<float>> grads = {{0.1f, 0.05f}, {-0.2f, 0.05f}, {0.05f, -0.1f}};
  for (int t = 1; t <= 3; ++t) {
    set_grad(w, grads[t - 1]);
    opt.step();
    for (int i = 0; i < 2; ++i) {
      const double g = grads[t - 1][i];
      p[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      p[i] -= lr * (m[i] / (1 - std::pow(b1, t))) / (std::sqrt(v[i] / (1 - std::pow(b2, t))) + eps);
    }
    INFO("step " << t);
    expect_values(w, {p[0], p[1]});
  }
}

TEST_CASE("weight decay is per group: a group with wd 0 is not decayed") {
  // Zero gradients: only weight decay can move a parameter.
  auto run = [](Optimizer& opt, Var& w, Var& bn) {
    for (int s = 0; s < 3; ++s) {
      set_grad(w, {0.0f, 0.0f});
      set_grad(bn, {0.0f, 0.0f});
      opt.step();
    }
  };
  for (int kind = 0; kind < 3; ++kind) {
    INFO("optimizer " << kind);
    Var w(Tensor::from({2}, {1.0f, -2.0f}), true), bn(Tensor::from({2}, {0.75f, -0.25f}), true);
    std::vector<ParamGroup> groups = {{{{"w", &w}}, 0.1f}, {{{"bn", &bn}}, 0.0f}};
    if (kind == 0) {
      SGD opt(groups, 0.1f, 0.9f, false);
      run(opt, w, bn);
      // g = wd p; the buffer starts as g, then b = momentum b + g; w[1] = -2 w[0].
      double p = 1.0, b = 0.0;
      for (int s = 0; s < 3; ++s) {
        const double g = double(0.1f) * p;
        b = s == 0 ? g : double(0.9f) * b + g;
        p -= double(0.1f) * b;
      }
      CHECK(w.data[0] == Approx(p).epsilon(kRelTol));
      CHECK(w.data[1] == Approx(-2.0 * p).epsilon(kRelTol));
    } else {
      Adam opt(groups, 0.01f, 0.9f, 0.999f, 1e-8f, kind == 2);
      run(opt, w, bn);
      if (kind == 2) {
        const double decay =
            std::pow(1.0 - double(0.01f) * double(0.1f), 3);  // g = 0: no Adam step
        CHECK(w.data[0] == Approx(decay).epsilon(kRelTol));
      } else {
        CHECK(w.data[0] < 1.0f);  // L2 gradient 0.1 p pulls toward 0
        CHECK(w.data[1] > -2.0f);
      }
    }
    CHECK(bn.data[0] == 0.75f);
    CHECK(bn.data[1] == -0.25f);
  }
}

TEST_CASE("optimizers skip parameters without a gradient; zero_grad clears every group") {
  Var a(Tensor::from({2}, {1.0f, 2.0f}), true), b(Tensor::from({1}, {5.0f}), true);
  SGD opt({{{{"a", &a}}, 0.1f}, {{{"b", &b}}, 0.0f}}, 0.1f, 0.9f, false);
  set_grad(a, {1.0f, 1.0f});
  opt.step();  // b.grad is empty: b untouched, no state for it
  CHECK(b.data[0] == 5.0f);
  SafeTensors st;
  opt.save_state(st, "opt.");
  CHECK(st.get_i64("opt.a.step") == std::vector<int64_t>{1});
  CHECK(st.get_i64("opt.b.step") == std::vector<int64_t>{0});
  CHECK(st.has("opt.a.momentum_buffer"));
  CHECK_FALSE(st.has("opt.b.momentum_buffer"));

  set_grad(b, {3.0f});
  opt.zero_grad();
  CHECK(a.grad.same_shape(a.data));
  CHECK(a.grad[0] == 0.0f);
  CHECK(a.grad[1] == 0.0f);
  CHECK(b.grad[0] == 0.0f);

  Var c(Tensor::from({2}, {1.0f, 2.0f}), true);
  c.grad = Tensor::zeros({3});
  SGD bad({{{{"c", &c}}, 0.0f}}, 0.1f, 0.0f, false);
  CHECK_THROWS_WITH(bad.step(), Catch::Contains("'c'") && Catch::Contains("(3)"));
}

namespace {

// Steps `opt` with gradients that depend only on the step number.
void run_steps(Optimizer& opt, Var& a, Var& b, int from, int to) {
  for (int s = from; s < to; ++s) {
    set_grad(a, {0.1f * s - 0.3f, 0.2f, -0.05f * s});
    set_grad(b, {0.7f - 0.1f * s});
    opt.step();
  }
}

template <typename MakeOpt>
void check_resume(MakeOpt make) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("taper_test_optimizer_" + std::to_string(::getpid()) + ".safetensors"))
                               .string();
  Var a(Tensor::from({3}, {0.5f, -1.0f, 2.0f}), true), b(Tensor::from({1}, {1.5f}), true);
  auto straight = make(a, b);
  run_steps(*straight, a, b, 0, 3);
  SafeTensors st;
  straight->save_state(st, "optimizer.");
  save_safetensors(path, st);

  Var a2(a.data.clone(), true), b2(b.data.clone(), true);
  auto resumed = make(a2, b2);
  resumed->load_state(load_safetensors(path), "optimizer.");
  std::filesystem::remove(path);
  Var a3(a.data.clone(), true), b3(b.data.clone(), true);
  auto fresh = make(a3, b3);  // the same weights without the state

  run_steps(*straight, a, b, 3, 6);
  run_steps(*resumed, a2, b2, 3, 6);
  run_steps(*fresh, a3, b3, 3, 6);
  CHECK(bitwise_equal(a.data, a2.data));
  CHECK(bitwise_equal(b.data, b2.data));
  CHECK_FALSE(bitwise_equal(a.data, a3.data));  // the state does matter
}

std::vector<ParamGroup> two_groups(Var& a, Var& b) {
  return {{{{"layer.weight", &a}}, 0.01f}, {{{"layer.bias", &b}}, 0.0f}};
}

}  // namespace

TEST_CASE("optimizer state save and load gives an identical continuation") {
  SECTION("sgd") {
    check_resume(
        [](Var& a, Var& b) { return std::make_unique<SGD>(two_groups(a, b), 0.1f, 0.9f, false); });
  }
  SECTION("sgd nesterov") {
    check_resume(
        [](Var& a, Var& b) { return std::make_unique<SGD>(two_groups(a, b), 0.1f, 0.9f, true); });
  }
  SECTION("adam") {
    check_resume([](Var& a, Var& b) {
      return std::make_unique<Adam>(two_groups(a, b), 0.01f, 0.9f, 0.999f, 1e-8f);
    });
  }
  SECTION("adamw") {
    check_resume([](Var& a, Var& b) {
      return std::make_unique<Adam>(two_groups(a, b), 0.01f, 0.9f, 0.999f, 1e-8f, true);
    });
  }
}

TEST_CASE("optimizer load_state rejects missing, mis-shaped and foreign state") {
  Var a(Tensor::from({3}, {0.5f, -1.0f, 2.0f}), true), b(Tensor::from({1}, {1.5f}), true);
  SGD sgd(two_groups(a, b), 0.1f, 0.9f, false);
  run_steps(sgd, a, b, 0, 2);
  SafeTensors good;
  sgd.save_state(good, "optimizer.");

  Var a2(a.data.clone(), true), b2(b.data.clone(), true);
  SGD target(two_groups(a2, b2), 0.1f, 0.9f, false);

  SafeTensors st = good;
  st.entries.erase("optimizer.layer.weight.momentum_buffer");
  CHECK_THROWS_WITH(target.load_state(st, "optimizer."),
                    Catch::Contains("'optimizer.layer.weight.momentum_buffer' missing"));
  st = good;
  st.put("optimizer.layer.bias.momentum_buffer", Tensor::zeros({2}));
  CHECK_THROWS_WITH(target.load_state(st, "optimizer."),
                    Catch::Contains("'optimizer.layer.bias.momentum_buffer'") &&
                        Catch::Contains("has shape (2)") && Catch::Contains("parameter has (1)"));
  st = good;
  st.entries.erase("optimizer.layer.bias.step");
  CHECK_THROWS_WITH(target.load_state(st, "optimizer."),
                    Catch::Contains("'optimizer.layer.bias.step' missing"));
  st = good;
  st.put_i64("optimizer.conv9.weight.step", {}, {4});
  CHECK_THROWS_WITH(target.load_state(st, "optimizer."),
                    Catch::Contains("'optimizer.conv9.weight.step'") &&
                        Catch::Contains("belongs to no parameter"));
  st = good;
  st.metadata.clear();
  CHECK_THROWS_WITH(target.load_state(st, "optimizer."), Catch::Contains("no optimizer state"));
  CHECK_THROWS_WITH(target.load_state(good, "other."), Catch::Contains("no optimizer state"));

  Adam adam(two_groups(a2, b2), 0.01f);
  CHECK_THROWS_WITH(adam.load_state(good, "optimizer."),
                    Catch::Contains("state of a 'sgd' optimizer") && Catch::Contains("'adam'"));

  // A failed load leaves the state as it was: target (never stepped, no
  // state) still continues exactly like a fresh optimizer.
  Var a3(a.data.clone(), true), b3(b.data.clone(), true);
  SGD fresh(two_groups(a3, b3), 0.1f, 0.9f, false);
  run_steps(target, a2, b2, 2, 4);
  run_steps(fresh, a3, b3, 2, 4);
  CHECK(bitwise_equal(a2.data, a3.data));
  // And a good load still works after the failures.
  target.load_state(good, "optimizer.");
}

TEST_CASE("optimizer settings are checked") {
  Var a(Tensor::zeros({2}), true), b(Tensor::zeros({1}), true);
  CHECK_THROWS_WITH(SGD(two_groups(a, b), 0.1f, 0.0f, true), Catch::Contains("Nesterov"));
  CHECK_THROWS_WITH(SGD(two_groups(a, b), 0.1f, 0.9f, true, 0.1f), Catch::Contains("Nesterov"));
  CHECK_THROWS_WITH(SGD(two_groups(a, b), -0.1f, 0.9f, false), Catch::Contains("learning rate"));
  CHECK_THROWS_WITH(SGD(two_groups(a, b), 0.1f, -0.5f, false), Catch::Contains("momentum"));
  CHECK_THROWS_WITH(SGD({{{{"w", &a}}, -1.0f}}, 0.1f, 0.0f, false),
                    Catch::Contains("weight decay of parameter group 0"));
  CHECK_THROWS_WITH(SGD({{{{"w", &a}, {"w", &b}}, 0.0f}}, 0.1f, 0.0f, false),
                    Catch::Contains("'w' appears twice"));
  CHECK_THROWS_WITH(SGD({{{{"w", nullptr}}, 0.0f}}, 0.1f, 0.0f, false),
                    Catch::Contains("'w' has no Var"));
  CHECK_THROWS_WITH(Adam(two_groups(a, b), 0.1f, 1.0f), Catch::Contains("beta1"));
  CHECK_THROWS_WITH(Adam(two_groups(a, b), 0.1f, 0.9f, -0.1f), Catch::Contains("beta2"));
  CHECK_THROWS_WITH(Adam(two_groups(a, b), 0.1f, 0.9f, 0.999f, -1.0f), Catch::Contains("eps"));
  SGD ok(two_groups(a, b), 0.1f, 0.0f, false);
  ok.lr = NAN;
  set_grad(a, {1.0f, 1.0f});
  CHECK_THROWS_WITH(ok.step(), Catch::Contains("learning rate"));
}

// The vectorized Adam kernel against the plain loop, over several blocks
// and a partial one, for Adam (l2) and AdamW (decay), several steps.
TEST_CASE("adam_update matches adam_update_ref") {
  const int64_t n = 2 * 1024 + 37;
  for (bool decoupled : {false, true}) {
    INFO((decoupled ? "adamw" : "adam"));
    Tensor p({n}), m({n}), v({n});
    for (int64_t i = 0; i < n; ++i) p[i] = std::sin(0.01f * i);
    Tensor p_ref = p.clone(), m_ref = m.clone(), v_ref = v.clone(), grad({n});
    for (int t = 1; t <= 3; ++t) {
      for (int64_t i = 0; i < n; ++i) grad[i] = 0.1f * std::cos(0.02f * i + t);
      AdamScalars c{0.9f,
                    0.999f,
                    1e-8f,
                    float(1e-3 / (1 - std::pow(0.9, t))),
                    float(std::sqrt(1 - std::pow(0.999, t))),
                    decoupled ? 0.999f : 1.0f,
                    decoupled ? 0.0f : 0.01f};
      adam_update(p.data(), grad.data(), m.data(), v.data(), n, c);
      adam_update_ref(p_ref.data(), grad.data(), m_ref.data(), v_ref.data(), n, c);
    }
    int64_t moved = 0;
    for (int64_t i = 0; i < n; ++i) {
      INFO("element " << i);
      REQUIRE(p[i] == Approx(p_ref[i]).epsilon(kRelTol).margin(kAbsTol));
      REQUIRE(m[i] == Approx(m_ref[i]).epsilon(kRelTol).margin(kAbsTol));
      REQUIRE(v[i] == Approx(v_ref[i]).epsilon(kRelTol).margin(kAbsTol * kAbsTol));
      moved += p[i] != std::sin(0.01f * i);
    }
    CHECK(moved > n / 2);
  }
}
