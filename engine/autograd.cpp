#include "engine/autograd.h"

#include "engine/error.h"
#include "engine/profiler.h"

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
  // The one place intermediate gradients are reset: they start empty, and the
  // first backward that adds into one gets it zero-filled (Var::grad_buffer).
  for (Op* op : ops_) op->out.grad = Tensor();
  root.grad_buffer().vec() += seed.vec();
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
    Op* op = *it;
    // An output no gradient reached (a dead branch) contributes nothing.
    if (!op->out.grad.empty()) {
      ProfileScope scope(op->type(), "backward");
      op->backward();
    }
    // Every reader of this output ran its backward before this op did, and
    // this op's own backward is done: neither the gradient nor the output is
    // needed any more, and both buffers go back to the pool. This keeps the
    // gradients of only a few layers alive at a time, and frees activations
    // as fast as gradients are made. (The root's output is kept.)
    op->out.grad = Tensor();
    if (&op->out != &root) op->out.data.release();
  }
  ops_.clear();
}

void zero_grad(Var& param) {
  param.grad.resize(param.data.shape());
  param.grad.zero();
}

void zero_grad(const std::vector<Var*>& params) {
  for (Var* p : params) zero_grad(*p);
}

}  // namespace taper
