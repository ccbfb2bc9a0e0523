#include "layers/linear.h"

#include "engine/error.h"
#include "engine/gemm.h"

namespace taper {

// Forward: y[n, o] = sum_i x[n, i] W[o, i] + b[o].
Var& Linear::forward(Var& x, Var& w, Var* b, Tape& tape) {
  check(x.data.ndim() == 2 && w.data.ndim() == 2 && x.data.dim(1) == w.data.dim(1),
        "linear: input ", shape_str(x.data.shape()), " does not fit weight ",
        shape_str(w.data.shape()), " (expected input (N, ", w.data.dim(-1), "))");
  check(!b || (b->data.ndim() == 1 && b->data.dim(0) == w.data.dim(0)), "linear: bias shape ",
        shape_str(b ? b->data.shape() : Shape{}), " does not match ", w.data.dim(0), " outputs");
  const int64_t N = x.data.dim(0), OUT = w.data.dim(0);
  out.data.resize({N, OUT});  // (N, OUT)
  const int64_t IN = w.data.dim(1);
  sgemm(false, true, N, OUT, IN, 1.0f, x.data.data(), IN, w.data.data(), IN, 0.0f,
        out.data.data(), OUT);
  if (b) out.data.mat().rowwise() += b->data.vec().transpose();
  x_ = &x, w_ = &w, b_ = b;
  record(tape, {&x, &w, b});
  return out;
}

// Backward, with dy = dL/dy (N, OUT):
//   dx += dy W        (N, IN)
//   dW += dy^T x      (OUT, IN)
//   db += sum_n dy    (OUT)
void Linear::backward() {
  const int64_t N = out.data.dim(0), OUT = out.data.dim(1), IN = w_->data.dim(1);
  const float* dy = out.grad.data();
  if (x_->requires_grad)
    sgemm(false, false, N, IN, OUT, 1.0f, dy, OUT, w_->data.data(), IN, 1.0f,
          x_->grad_buffer().data(), IN);
  if (w_->requires_grad)
    sgemm(true, false, OUT, IN, N, 1.0f, dy, OUT, x_->data.data(), IN, 1.0f,
          w_->grad_buffer().data(), IN);
  if (b_ && b_->requires_grad)
    b_->grad_buffer().vec() += static_cast<const Tensor&>(out.grad).mat().colwise().sum().transpose();
}

void linear_forward_ref(const float* x, const float* w, const float* b, float* y, int64_t N,
                        int64_t IN, int64_t OUT) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o) {
      double acc = b ? b[o] : 0.0;
      for (int64_t i = 0; i < IN; ++i) acc += double(x[n * IN + i]) * w[o * IN + i];
      y[n * OUT + o] = static_cast<float>(acc);
    }
}

}  // namespace taper
