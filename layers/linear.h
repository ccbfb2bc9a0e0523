// Linear (fully connected): y = x W^T + b.
//   x (N, IN), W (OUT, IN) — PyTorch's layout, b (OUT) optional, y (N, OUT).
#pragma once

#include "engine/autograd.h"

namespace taper {

class Linear : public Op {
 public:
  Var& forward(Var& x, Var& w, Var* b, Tape& tape);
  void backward() override;
  const char* type() const override { return "linear"; }

 private:
  // Cached for backward: the inputs themselves (dW needs x, dx needs W).
  Var* x_ = nullptr;
  Var* w_ = nullptr;
  Var* b_ = nullptr;
};

// Reference loops, for tests of the Eigen path.
void linear_forward_ref(const float* x, const float* w, const float* b, float* y, int64_t N,
                        int64_t IN, int64_t OUT);

}  // namespace taper
