// Add: y = a + b, elementwise, for a residual connection.
//   a, b and y have the same shape (no broadcasting), any rank.
#pragma once

#include "engine/autograd.h"

namespace taper {

class Add : public Op {
 public:
  Var& forward(Var& a, Var& b, Tape& tape);
  void backward() override;
  const char* type() const override { return "add"; }
  // Backward: dL/da = dL/db = dL/dy, no input data.
  bool backward_reads_input(int) const override { return false; }

 private:
  // Cached for backward: which Vars to send the gradient to (dy/da = dy/db = 1
  // needs no values). a and b may be the same Var; it then receives 2 dy.
  Var* a_ = nullptr;
  Var* b_ = nullptr;
};

}  // namespace taper
