#include "support/gradcheck.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/rng.h"

namespace taper::testing {

static double probe_loss(const Tensor& y, const Tensor& r) {
  double sum = 0.0;
  for (int64_t i = 0; i < y.numel(); ++i) sum += static_cast<double>(r[i]) * y[i];
  return sum;
}

void check_gradients(const ForwardFn& forward, const std::vector<Var*>& wrt,
                     const std::string& what, const GradCheckOptions& opt) {
  for (Var* v : wrt) v->requires_grad = true;
  zero_grad(wrt);

  // Analytic: one recorded forward, backward seeded with the probe r.
  Tape tape;
  Var& y = forward(tape);
  REQUIRE(y.requires_grad);
  Tensor r = random_tensor(y.data.shape(), opt.seed);
  tape.backward(y, r);
  std::vector<Tensor> analytic;
  for (Var* v : wrt) analytic.push_back(v->grad.clone());

  // Numerical: central differences on a deterministic sample of elements.
  Tape eval;
  NoGrad no_grad(eval);
  for (size_t t = 0; t < wrt.size(); ++t) {
    INFO(what << ": input #" << t << " of shape " << shape_str(wrt[t]->data.shape()));
    Tensor& x = wrt[t]->data;
    const Tensor& a = analytic[t];
    REQUIRE(a.same_shape(x));
    std::vector<int64_t> idx(x.numel());
    for (int64_t i = 0; i < x.numel(); ++i) idx[i] = i;
    if (x.numel() > opt.max_elements) {
      Rng rng(opt.seed, 7 + t);
      rng.shuffle(idx);
      idx.resize(opt.max_elements);
    }
    double diff2 = 0.0, num2 = 0.0, any_analytic = 0.0;
    for (int64_t i = 0; i < x.numel(); ++i) any_analytic = std::max(any_analytic, double(std::fabs(a[i])));
    CHECK(any_analytic > 0.0);  // a check where both sides are zero proves nothing
    int failures = 0;
    for (int64_t i : idx) {
      const float saved = x[i];
      x[i] = static_cast<float>(saved + opt.step);
      double up = probe_loss(forward(eval).data, r);
      x[i] = static_cast<float>(saved - opt.step);
      double down = probe_loss(forward(eval).data, r);
      x[i] = saved;
      // The step actually taken in float32 (saved +- h may round).
      double h2 = double(static_cast<float>(saved + opt.step)) - double(static_cast<float>(saved - opt.step));
      double numeric = (up - down) / h2;
      double an = a[i];
      diff2 += (an - numeric) * (an - numeric);
      num2 += numeric * numeric;
      double tol = opt.abs_tol + opt.rel_tol * std::max(std::fabs(an), std::fabs(numeric));
      if (std::fabs(an - numeric) > tol && failures < 5) {
        ++failures;
        FAIL_CHECK(what << ": element " << i << " analytic " << an << " numeric " << numeric);
      }
    }
    forward(eval);  // leave the op's output as at the unperturbed point
    CHECK(std::sqrt(diff2) <= opt.norm_tol * std::sqrt(num2) + opt.abs_tol);
  }
}

void check_gradient_double(const std::function<double(const std::vector<double>&)>& f,
                           const std::vector<double>& x, const std::vector<double>& analytic,
                           const std::string& what, double step, double rel_tol, double abs_tol) {
  REQUIRE(analytic.size() == x.size());
  double any_analytic = 0.0;
  for (double a : analytic) any_analytic = std::max(any_analytic, std::fabs(a));
  CHECK(any_analytic > 0.0);  // a check where both sides are zero proves nothing
  std::vector<double> probe = x;
  int failures = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    probe[i] = x[i] + step;
    const double up = f(probe);
    probe[i] = x[i] - step;
    const double down = f(probe);
    probe[i] = x[i];
    const double numeric = (up - down) / (2.0 * step);
    const double tol = abs_tol + rel_tol * std::max(std::fabs(analytic[i]), std::fabs(numeric));
    if (std::fabs(analytic[i] - numeric) > tol && failures < 5) {
      ++failures;
      FAIL_CHECK(what << ": element " << i << " analytic " << analytic[i] << " numeric " << numeric);
    }
  }
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Tensor t(shape);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform(lo, hi);
  return t;
}

Tensor spread_tensor(const Shape& shape, uint64_t seed, float gap) {
  // A shuffled ramp: distinct values gap apart, symmetric around zero but
  // skipping it, so no two elements tie and none sits near a kink at 0.
  Tensor t(shape);
  int64_t n = t.numel();
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  Rng rng(seed);
  rng.shuffle(order);
  for (int64_t i = 0; i < n; ++i) {
    int64_t k = order[i] - n / 2;
    t[i] = gap * (static_cast<float>(k) + (k >= 0 ? 0.5f : -0.5f));
  }
  return t;
}

}  // namespace taper::testing
