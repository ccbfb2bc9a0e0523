// Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW (amsgrad off).
#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/optimizer.h"

namespace taper {

// adam_update and adam_update_ref compute, per element (see optimizer.h):
//   p = decay p;  g = grad + l2 p
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   p = p - step_size m / (sqrt(v) / bc2_sqrt + eps)

// The reference: the rule as a plain loop. The compiler cannot vectorize it
// (std::sqrt may set errno), so it runs ~5x slower than adam_update.
void adam_update_ref(float* p, const float* grad, float* m, float* v, int64_t n,
                     const AdamScalars& c) {
  for (int64_t i = 0; i < n; ++i) {
    if (c.decay != 1.0f) p[i] *= c.decay;
    const float g = c.l2 != 0.0f ? grad[i] + c.l2 * p[i] : grad[i];
    m[i] = c.beta1 * m[i] + (1.0f - c.beta1) * g;
    v[i] = c.beta2 * v[i] + (1.0f - c.beta2) * g * g;
    const float denom = std::sqrt(v[i]) / c.bc2_sqrt + c.eps;
    p[i] -= c.step_size * (m[i] / denom);
  }
}

// The same arithmetic as Eigen array expressions, which vectorize the square
// root and division. Blocks of kBlock elements stay in L1 cache across the
// four statements. Single-threaded: the update is memory-bound once
// vectorized and a small part of a training step.
void adam_update(float* p, const float* grad, float* m, float* v, int64_t n, const AdamScalars& c) {
  using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
  using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;
  constexpr int64_t kBlock = 1024;
  float g_block[kBlock];  // g for this block (kBlock)
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t len = std::min(kBlock, n - begin);
    ArrayMap P(p + begin, len), M(m + begin, len), V(v + begin, len), G(g_block, len);
    ConstArrayMap grad_in(grad + begin, len);
    if (c.decay != 1.0f) P *= c.decay;
    if (c.l2 != 0.0f)
      G = grad_in + c.l2 * P;
    else
      G = grad_in;
    M = c.beta1 * M + (1.0f - c.beta1) * G;
    V = c.beta2 * V + (1.0f - c.beta2) * G * G;
    P -= c.step_size * (M / (V.sqrt() / c.bc2_sqrt + c.eps));
  }
}

Adam::Adam(std::vector<ParamGroup> groups_, float lr_, float beta1_, float beta2_, float eps_,
           bool decoupled_)
    : Optimizer(std::move(groups_), lr_, decoupled_ ? "adamw" : "adam"),
      beta1(beta1_),
      beta2(beta2_),
      eps(eps_),
      decoupled(decoupled_) {
  check(beta1 >= 0.0f && beta1 < 1.0f, kind_, ": beta1 must be in [0, 1), got ", beta1);
  check(beta2 >= 0.0f && beta2 < 1.0f, kind_, ": beta2 must be in [0, 1), got ", beta2);
  check(std::isfinite(eps) && eps >= 0.0f, kind_, ": eps must be >= 0, got ", eps);
}

void Adam::step() {
  for_each_update([&](NamedParam& p, ParamState& s, float wd) {
    Var& v = *p.var;
    if (s.buffers.empty()) {
      s.buffers.emplace_back(v.data.shape());  // m (exp_avg), zero, same shape as the parameter
      s.buffers.emplace_back(v.data.shape());  // v (exp_avg_sq), zero, same shape as the parameter
    }
    Tensor& m = s.buffers[0];
    Tensor& sq = s.buffers[1];
    check(m.same_shape(v.data), kind_, ": parameter '", p.name, "' changed shape to ", shape_str(v.data.shape()),
          " since its moments began");
    const int64_t t = ++s.steps;
    // Bias corrections in double, as PyTorch computes them in Python floats.
    const double bc1 = 1.0 - std::pow(double(beta1), double(t));
    const double bc2 = 1.0 - std::pow(double(beta2), double(t));
    AdamScalars c;
    c.beta1 = beta1;
    c.beta2 = beta2;
    c.eps = eps;
    c.step_size = float(double(lr) / bc1);
    c.bc2_sqrt = float(std::sqrt(bc2));
    c.decay = decoupled ? float(1.0 - double(lr) * double(wd)) : 1.0f;
    c.l2 = decoupled ? 0.0f : wd;
    adam_update(v.data.data(), v.grad.data(), m.data(), sq.data(), v.data.numel(), c);
  });
}

std::vector<std::string> Adam::buffer_names() const { return {"exp_avg", "exp_avg_sq"}; }

}  // namespace taper
