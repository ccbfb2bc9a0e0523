#include "layers/activation.h"

#include <cmath>

#include "engine/error.h"
#include "engine/parallel.h"

namespace taper {

// ---- ReLU ------------------------------------------------------------------

// Forward: y[i] = x[i] > 0 ? x[i] : 0.
Var& ReLU::forward(Var& x, Tape& tape) {
  check(!x.data.empty(), "relu: empty input ", shape_str(x.data.shape()),
        " (expected at least one element)");
  const int64_t n = x.data.numel();
  out.data.resize(x.data.shape());  // same shape as x
  const float* xp = x.data.data();
  float* yp = out.data.data();
  parallel_for_range(n, n >= kMinParallelWork, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) yp[i] = relu_value(xp[i]);
  });
  x_ = &x;
  record(tape, {&x});
  return out;
}

// Backward: dx[i] += dy[i] where x[i] > 0 (read as y[i] > 0).
void ReLU::backward() {
  if (!x_->requires_grad) return;
  const int64_t n = out.data.numel();
  const float* yp = out.data.data();
  const float* dy = out.grad.data();
  float* dx = x_->grad_buffer().data();
  parallel_for_range(n, n >= kMinParallelWork, [&](int64_t begin, int64_t end) {
    // Branch-free, with unconditional loads, so that the loop vectorizes.
    for (int64_t i = begin; i < end; ++i) {
      const float g = dy[i];
      dx[i] += relu_passes(yp[i]) ? g : 0.0f;
    }
  });
}

// ---- Clamp -----------------------------------------------------------------

Clamp::Clamp(float lo, float hi) : lo_(lo), hi_(hi) {
  check(!std::isnan(lo) && !std::isnan(hi) && lo <= hi, "clamp: bounds [", lo, ", ", hi,
        "] are not an interval (expected lo <= hi)");
}

// Forward: y[i] = min(max(x[i], lo), hi).
Var& Clamp::forward(Var& x, Tape& tape) {
  check(!x.data.empty(), "clamp: empty input ", shape_str(x.data.shape()),
        " (expected at least one element)");
  const int64_t n = x.data.numel();
  out.data.resize(x.data.shape());  // same shape as x
  const float* xp = x.data.data();
  float* yp = out.data.data();
  const float lo = lo_, hi = hi_;
  parallel_for_range(n, n >= kMinParallelWork, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) yp[i] = xp[i] < lo ? lo : (xp[i] > hi ? hi : xp[i]);
  });
  x_ = &x;
  record(tape, {&x});
  return out;
}

// Backward: dx[i] += dy[i] where lo <= x[i] <= hi, nothing elsewhere.
void Clamp::backward() {
  if (!x_->requires_grad) return;
  const int64_t n = out.data.numel();
  const float* xp = x_->data.data();
  const float* dy = out.grad.data();
  float* dx = x_->grad_buffer().data();
  const float lo = lo_, hi = hi_;
  parallel_for_range(n, n >= kMinParallelWork, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float g = dy[i];  // loaded unconditionally, so that the loop vectorizes
      dx[i] += (xp[i] >= lo && xp[i] <= hi) ? g : 0.0f;
    }
  });
}

}  // namespace taper
