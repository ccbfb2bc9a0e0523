#include "layers/flatten.h"

#include "engine/error.h"
#include "engine/parallel.h"

namespace taper {

// Forward: y = x seen as (N, numel / N), sharing x's buffer.
Var& Flatten::forward(Var& x, Tape& tape) {
  check(x.data.ndim() >= 2, "flatten: input ", shape_str(x.data.shape()),
        " has no dimension to flatten (expected (N, ...) with at least 2 dimensions)");
  const int64_t N = x.data.dim(0);
  int64_t features = 1;  // d1 * d2 * ...
  for (int d = 1; d < x.data.ndim(); ++d) features *= x.data.dim(d);
  // Assigning the view replaces out.data's buffer by x's (never resize out.data
  // here: a resize of a shared buffer would write into x).
  out.data = x.data.reshaped({N, features});  // (N, d1 * d2 * ...)
  x_ = &x;
  record(tape, {&x});
  return out;
}

// Backward: dx += dy, element by element (the same row-major order).
void Flatten::backward() {
  if (!x_->requires_grad) return;
  const int64_t n = out.data.numel();
  const float* dy = out.grad.data();
  float* dx = x_->grad_buffer().data();
  parallel_for_range(n, n >= kMinParallelWork, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dx[i] += dy[i];
  });
}

}  // namespace taper
