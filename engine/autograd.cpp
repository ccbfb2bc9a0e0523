#include "engine/autograd.h"

#include "engine/error.h"

namespace taper {

Tensor& Var::grad_buffer() {
  if (!grad.same_shape(data) || grad.empty() != data.empty()) {
    grad.resize(data.shape());
    grad.zero();
  }
  return grad;
}

bool Op::will_record(const Tape& tape, std::initializer_list<const Var*> inputs) {
  if (!tape.recording()) return false;
  for (const Var* v : inputs)
    if (v && v->requires_grad) return true;
  return false;
}

bool Op::record(Tape& tape, std::initializer_list<const Var*> inputs) {
  bool rec = will_record(tape, inputs);
  out.requires_grad = rec;
  if (rec) tape.push(this);
  return rec;
}

void Tape::backward(Var& root) { backward(root, Tensor::full(root.data.shape(), 1.0f)); }

void Tape::backward(Var& root, const Tensor& seed) {
  check(seed.same_shape(root.data), "backward: seed shape ", shape_str(seed.shape()),
        " does not match root shape ", shape_str(root.data.shape()));
  // The one place intermediate gradients are zeroed.
  for (Op* op : ops_) {
    op->out.grad.resize(op->out.data.shape());
    op->out.grad.zero();
  }
  root.grad_buffer().vec() += seed.vec();
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) (*it)->backward();
  ops_.clear();
}

void zero_grad(const std::vector<Var*>& params) {
  for (Var* p : params) {
    p->grad.resize(p->data.shape());
    p->grad.zero();
  }
}

}  // namespace taper
