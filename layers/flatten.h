// Flatten: (N, d1, d2, ...) -> (N, d1 * d2 * ...), e.g. (N, C, H, W) -> (N, C*H*W)
// between the last pooling layer and the first fully connected one.
#pragma once

#include "engine/autograd.h"

namespace taper {

class Flatten : public Op {
 public:
  // out.data is a view of x.data (Tensor::reshaped, no copy): it shares x's
  // buffer, so it changes when x's values change. Do not write into it.
  Var& forward(Var& x, Tape& tape);
  void backward() override;
  const char* type() const override { return "flatten"; }
  // Backward: a reshape of dy, input only for its shape.
  bool backward_reads_input(int) const override { return false; }

 private:
  // Cached for backward: the input Var. Row-major flattening keeps element
  // order, so the gradient is out.grad read with x's shape.
  Var* x_ = nullptr;
};

}  // namespace taper
