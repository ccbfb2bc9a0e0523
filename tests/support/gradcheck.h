// The one finite-difference gradient checker every op test goes through, and
// grad_of_ones for gradients a test writes out by hand.
//
// For an op y = f(inputs), it fixes a random probe r (same shape as y) and the
// probe loss L = sum_i r_i * y_i, accumulated in double. The analytic gradient
// comes from one recorded forward and Tape::backward(y, r); the numerical one
// from central differences (L(v + h) - L(v - h)) / 2h, one element at a time.
//
// Tensors are float32, so the step and tolerances are chosen against float32
// round-off: with h = 1e-2 the round-off in a difference of two probe losses
// is ~1e-4 relative, far below kRelTol, while a sign error or a missing
// factor of 2 is a 100% or 50% error and fails. Piecewise-linear ops (conv,
// pooling, ReLU) have no truncation error as long as no input crosses a kink
// within +-h: callers keep inputs away from kinks (ties, zero, clamp edges).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"

namespace taper::testing {

inline constexpr double kGradStep = 1e-2;    // central-difference step h
inline constexpr double kGradRelTol = 2e-2;  // per element, relative to max(|a|, |n|)
inline constexpr double kGradAbsTol = 2e-3;  // per element, absolute floor
inline constexpr double kGradNormTol = 1e-2; // ||a - n|| / ||n|| over a tensor

struct GradCheckOptions {
  double step = kGradStep;
  double rel_tol = kGradRelTol;
  double abs_tol = kGradAbsTol;
  double norm_tol = kGradNormTol;
  int max_elements = 400;  // per tensor; larger tensors are sampled
  uint64_t seed = 1234;
};

// Builds the computation on `tape` and returns its output. Must be
// deterministic: it is called once recorded and twice per probed element.
using ForwardFn = std::function<Var&(Tape&)>;

// Checks d L / d v for every v in wrt (sets their requires_grad) with Catch2
// CHECKs, including that each analytic gradient is not all zero.
void check_gradients(const ForwardFn& forward, const std::vector<Var*>& wrt,
                     const std::string& what, const GradCheckOptions& options = {});

// Runs op's forward on x (recorded) and backward with dy = 1 (every output
// element's gradient one); returns dx. For ops with one input whose gradient
// a test writes out by hand.
template <typename OpT>
Tensor grad_of_ones(OpT& op, Var& x) {
  x.requires_grad = true;
  zero_grad({&x});
  Tape tape;
  Var& y = op.forward(x, tape);
  tape.backward(y);
  return x.grad.clone();
}

// The same central differences for a function of plain doubles (analysis
// code without a tape, e.g. t-SNE's KL): numeric_i = (f(x + h e_i) -
// f(x - h e_i)) / 2h against analytic[i] for every element. In double,
// h = 1e-6 keeps truncation (~h^2) and round-off (~1e-16 |f| / h) near 1e-10,
// so a relative tolerance of 1e-5 still fails a sign error or a factor of 2.
inline constexpr double kDoubleGradStep = 1e-6;
inline constexpr double kDoubleGradRelTol = 1e-5;
inline constexpr double kDoubleGradAbsTol = 1e-8;
void check_gradient_double(const std::function<double(const std::vector<double>&)>& f,
                           const std::vector<double>& x, const std::vector<double>& analytic,
                           const std::string& what, double step = kDoubleGradStep,
                           double rel_tol = kDoubleGradRelTol, double abs_tol = kDoubleGradAbsTol);

// A tensor of the given shape with uniform values in [lo, hi), seeded.
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

// Random values whose magnitudes are at least `gap` (and whose pairwise
// differences are at least `gap`), for ops with kinks at zero or at ties.
Tensor spread_tensor(const Shape& shape, uint64_t seed, float gap = 0.05f);

}  // namespace taper::testing
