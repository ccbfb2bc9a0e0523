#include "layers/dropout.h"


#include "engine/error.h"
#include "engine/parallel.h"

namespace taper {

Dropout::Dropout(float p, uint64_t seed) : rng(seed), p_(p) {
  check(p >= 0.0f && p < 1.0f, "dropout: probability ", p, " is out of range (expected 0 <= p < 1)");
}

// Forward, training: mask[i] = (u_i >= p) / (1 - p) with u_i uniform in [0, 1)
// (so P(kept) = 1 - p and E[y] = x); y[i] = x[i] mask[i].
// Forward, eval: y = x (a copy: if out.data shared x's buffer, the next
// training forward would write its output into x).
Var& Dropout::forward(Var& x, Tape& tape) {
  check(!x.data.empty(), "dropout: empty input ", shape_str(x.data.shape()),
        " (expected at least one element)");
  const int64_t n = x.data.numel();
  trained_ = training;
  if (!training) {
    out.data.copy_from(x.data);  // same shape as x
  } else {
    out.data.resize(x.data.shape());  // same shape as x
    mask_.resize(x.data.shape());     // same shape as x
    const float scale = 1.0f / (1.0f - p_);
    const float* xp = x.data.data();
    float* yp = out.data.data();
    float* mp = mask_.data();
    // One thread on purpose: the draws must come in a fixed order.
    for (int64_t i = 0; i < n; ++i) {
      mp[i] = rng.uniform() >= p_ ? scale : 0.0f;
      yp[i] = xp[i] * mp[i];
    }
  }
  x_ = &x;
  record(tape, {&x});
  return out;
}

// Backward: dx[i] += dy[i] mask[i] in training, dx += dy in eval.
void Dropout::backward() {
  if (!x_->requires_grad) return;
  const int64_t n = out.data.numel();
  const float* dy = out.grad.data();
  const float* mp = mask_.data();
  float* dx = x_->grad_buffer().data();
  if (trained_) {
    parallel_for_range(n, n >= kMinParallelWork, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) dx[i] += dy[i] * mp[i];
    });
  } else {
    parallel_for_range(n, n >= kMinParallelWork, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) dx[i] += dy[i];
    });
  }
}

}  // namespace taper
