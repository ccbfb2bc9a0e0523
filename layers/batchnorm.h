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
//
// Synchronized under data parallelism: when the process is one of several
// ranks (engine/comm.h), training statistics are those of the global batch —
// the per-channel sums and sums of squared deviations are all-reduced, and
// so are backward's two gradient sums — so N ranks holding N shards compute
// what one process computes on the whole batch. gamma and beta get each
// rank's share of their gradient; the gradient all-reduce adds them up.
//
// Fused activation (optional): y = act(s) with s the batch-norm output and act
// a ReLU or the k-bit activation quantizer Q_k(clamp(s, 0, 1)) (quant/), in
// the same pass. The result is bit-identical to BatchNorm followed by ReLU or
// ActQuant, but s is never stored: backward recomputes it from x to rebuild
// the activation's mask (ReLU: s > 0; quantizer: 0 <= s <= 1), which saves a
// buffer as large as x in every conv block and one pass over memory.
#pragma once

#include <cmath>
#include <vector>

#include "engine/autograd.h"

namespace taper {

enum class FusedActivation { none, relu, quantize };

// Batch norm's arithmetic, written once: BatchNorm below and the thresholds
// a packed model folds it into (quant/thresholds.h) call these.
//   invstd = 1 / sqrt(var + eps)            (in double, rounded to float)
//   y = (x - mean) * (gamma invstd) + beta  (scale = gamma invstd, shift = beta)
inline float batchnorm_invstd(double var, float eps) { return static_cast<float>(1.0 / std::sqrt(var + eps)); }
inline float batchnorm_affine(float x, float mean, float scale, float shift) { return (x - mean) * scale + shift; }

class BatchNorm : public Op {
 public:
  // Applies `act` after the normalization; `bits` (1..8) for quantize.
  void fuse_activation(FusedActivation act, int bits = 0);

  Var& forward(Var& x, Var& gamma, Var& beta, Tensor& running_mean, Tensor& running_var,
               Tape& tape);
  void backward() override;
  const char* type() const override { return "batchnorm"; }

  bool training = true;    // false: normalize with the running statistics
  float momentum = 0.1f;   // in [0, 1]
  float eps = 1e-5f;       // >= 0, added to the variance
  // Under several ranks, use the global batch's statistics (see above).
  // Off only to compute a rank-local reference in tests.
  bool sync = true;

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
  bool synced_ = false;  // forward used global (all-reduced) statistics
  FusedActivation act_ = FusedActivation::none;
  float steps_ = 0.0f;  // 2^bits - 1 for a fused quantizer
  Tensor mean_;    // (C)
  Tensor invstd_;  // (C)
  std::vector<double> sums_;  // (2C) per-channel sums being all-reduced (synchronized mode only)
};

}  // namespace taper
