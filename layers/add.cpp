#include "layers/add.h"

#include "engine/error.h"
#include "engine/parallel.h"

namespace taper {

// Forward: y[i] = a[i] + b[i].
Var& Add::forward(Var& a, Var& b, Tape& tape) {
  check(a.data.same_shape(b.data), "add: input shapes ", shape_str(a.data.shape()), " and ",
        shape_str(b.data.shape()), " differ (expected the same shape)");
  check(!a.data.empty(), "add: empty inputs ", shape_str(a.data.shape()),
        " (expected at least one element)");
  const int64_t n = a.data.numel();
  out.data.resize(a.data.shape());  // same shape as a and b
  const float* ap = a.data.data();
  const float* bp = b.data.data();
  float* yp = out.data.data();
  parallel_for_range(n, n >= kMinParallelWork, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) yp[i] = ap[i] + bp[i];
  });
  a_ = &a, b_ = &b;
  record(tape, {&a, &b});
  return out;
}

// Backward: da += dy, db += dy. Two separate passes, so when a and b are the
// same Var it gets dy twice (the accumulate rule), and no pass has two
// threads writing one element.
void Add::backward() {
  const int64_t n = out.data.numel();
  const float* dy = out.grad.data();
  for (Var* input : {a_, b_}) {
    if (!input->requires_grad) continue;
    float* dx = input->grad_buffer().data();
    parallel_for_range(n, n >= kMinParallelWork, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) dx[i] += dy[i];
    });
  }
}

}  // namespace taper
