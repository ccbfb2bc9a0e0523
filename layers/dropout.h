// Dropout (inverted): in training, each element is kept with probability
// 1 - p and scaled by 1 / (1 - p), or set to 0; in eval mode y = x.
//   x and y have the same shape, any rank.
// The mask comes from the op's own Rng, drawn one element after another in
// row-major order, so a seed gives the same masks whatever the thread count.
#pragma once

#include <cstdint>

#include "engine/autograd.h"
#include "engine/rng.h"

namespace taper {

class Dropout : public Op {
 public:
  Dropout(float p, uint64_t seed);  // 0 <= p < 1, else Error
  Var& forward(Var& x, Tape& tape);
  void backward() override;
  const char* type() const override { return "dropout"; }
  // Backward: multiplies by the cached mask.
  bool backward_reads_input(int) const override { return false; }

  float p() const { return p_; }

  bool training = true;  // false: identity (PyTorch's model.eval())
  Rng rng;               // the mask stream; reseed or set_state to replay masks

 private:
  float p_;
  // Cached for backward: the input Var, the mode forward ran in (the flag
  // may change before backward), and the mask.
  Var* x_ = nullptr;
  bool trained_ = false;
  // (same shape as x) 1 / (1 - p) where kept, 0 where dropped: forward and
  // backward both multiply by it, so it holds the scale too.
  Tensor mask_;
};

}  // namespace taper
