// Batch normalization, PyTorch's BatchNorm1d/2d.
//   x (N, C, H, W), statistics per channel over N, H, W; or x (N, C),
//   statistics per channel over N. gamma, beta, running_mean, running_var (C).
//   y = gamma (x - mean) / sqrt(var + eps) + beta, same shape as x.
// Training: mean and biased variance of the batch, M = N H W values per
// channel (M = 1 is an Error, as in PyTorch); then the running statistics move
// toward the batch's: r = (1 - momentum) r + momentum stat, using the
// UNBIASED variance (times M / (M - 1)). They update whenever training is
// true, recording or not. Eval (training = false): running statistics.
// running_mean / running_var are buffers, not parameters: plain Tensors that
// the model owns and saves with its checkpoint.
#pragma once

#include "engine/autograd.h"

namespace taper {

class BatchNorm : public Op {
 public:
  Var& forward(Var& x, Var& gamma, Var& beta, Tensor& running_mean, Tensor& running_var,
               Tape& tape);
  void backward() override;
  const char* type() const override { return "batchnorm"; }

  bool training = true;    // false: normalize with the running statistics
  float momentum = 0.1f;   // in [0, 1]
  float eps = 1e-5f;       // >= 0, added to the variance

 private:
  Var* x_ = nullptr;
  Var* gamma_ = nullptr;
  Var* beta_ = nullptr;
  // Cached for backward: the mode forward ran in (the flag may change before
  // backward), and per channel the mean and invstd = 1 / sqrt(var + eps) that
  // forward used (batch or running statistics) (C each). Backward recomputes
  // x_hat = (x - mean) invstd from x: x stays untouched until backward (taper
  // ops never write into their inputs), and caching x_hat instead would cost
  // one more buffer as large as x in every batch-norm layer for a saving of
  // one multiply-add per element. Copying the running statistics keeps
  // backward right even if they change in between.
  bool trained_ = false;
  Tensor mean_;    // (C)
  Tensor invstd_;  // (C)
};

}  // namespace taper
