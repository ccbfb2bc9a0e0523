// Elementwise activations.
//   ReLU:  y = max(x, 0);        dy/dx = 1 where x > 0, else 0 (also at x = 0).
//   Clamp: y = min(max(x, lo), hi); dy/dx = 1 where lo <= x <= hi (both ends
//          inclusive, as PyTorch's clamp), else 0.
// x and y have the same shape, any rank.
#pragma once

#include "engine/autograd.h"

namespace taper {

// ReLU's formula and mask, written once: the ReLU op below and the batch norm
// that applies a ReLU in its own pass (layers/batchnorm.cpp) both call them.
// The mask can be read from x or from y = relu(x): y > 0 exactly where x > 0.
inline float relu_value(float x) { return x > 0.0f ? x : 0.0f; }
inline bool relu_passes(float x) { return x > 0.0f; }

class ReLU : public Op {
 public:
  Var& forward(Var& x, Tape& tape);
  void backward() override;
  const char* type() const override { return "relu"; }
  // Backward: the mask y > 0 comes from the output.
  bool backward_reads_input(int) const override { return false; }
  bool backward_reads_output() const override { return true; }

 private:
  // Cached for backward: only the input Var. The mask x > 0 is read back
  // from out.data (y > 0 exactly where x > 0), so no mask buffer is kept.
  Var* x_ = nullptr;
};

class Clamp : public Op {
 public:
  Clamp(float lo, float hi);  // lo <= hi, else Error
  Var& forward(Var& x, Tape& tape);
  void backward() override;
  const char* type() const override { return "clamp"; }

  float lo() const { return lo_; }
  float hi() const { return hi_; }

 private:
  float lo_, hi_;
  // Cached for backward: the input Var. The mask needs x itself: y == lo
  // cannot tell x == lo (gradient passes) from x < lo (it does not).
  Var* x_ = nullptr;
};

}  // namespace taper
