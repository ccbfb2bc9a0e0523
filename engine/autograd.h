// Reverse-mode automatic differentiation on a tape.
//
// A Var is a value with an optional gradient. An Op is one call of one
// operation: its forward computes `out` from input Vars and, when the tape is
// recording, caches what its backward needs and pushes itself on the tape.
// Tape::backward walks the recorded ops in reverse; each op's backward reads
// out.grad and ADDS (+=) into the grads of its inputs that require a gradient.
//
// The accumulate rule: backward never assigns a gradient, it only adds. Grads
// are reset in one place per kind: Tape::backward empties the grads of every
// op output it recorded (the intermediates) before the reverse sweep, and the
// first backward that adds into one gets it zero-filled (Var::grad_buffer);
// once the op that produced an output has run its backward, that output's
// grad and its data are released (as PyTorch frees non-leaf grads and saved
// tensors), so only a few layers' gradients are alive at once and
// activations are freed as gradients are made. Backward consumes the graph:
// read the outputs you need (logits, say) before calling it; only the root
// keeps its value. Parameters (leaves) keep accumulating across
// backward calls until zero_grad() clears them, which the training step calls
// once per step.
//
// An Op object is one node: each call site in a model owns its own Op, which
// keeps its output and cached buffers between steps, so a warm training step
// reuses the same memory. The same Op must not be applied twice in one
// recorded forward.
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace taper {

struct Var {
  Tensor data;
  Tensor grad;  // same shape as data once a backward has touched it
  bool requires_grad = false;

  Var() = default;
  explicit Var(Tensor value, bool requires_grad_ = false)
      : data(std::move(value)), requires_grad(requires_grad_) {}

  // The gradient buffer, allocated zero-filled on first use or when the
  // shape of data changed. Backward functions add into it.
  Tensor& grad_buffer();
};

class Tape;

class Op {
 public:
  virtual ~Op() = default;
  // Adds the gradient of out into the inputs' grads (only those with
  // requires_grad). Called once per recorded forward, in reverse order.
  virtual void backward() = 0;
  // Plain name for messages and summaries ("conv", "batchnorm", ...).
  virtual const char* type() const = 0;
  // What backward reads besides gradients: the data of forward input k (in
  // forward's argument order), and this op's own output. A model frees an
  // output that no backward reads once its last reader has run forward
  // (shapes stay; see Tensor::release). Say false only when backward uses
  // nothing but the shape (or its own caches).
  virtual bool backward_reads_input(int k) const { return true; }
  virtual bool backward_reads_output() const { return false; }

  Var out;

 protected:
  // Call at the end of forward: sets out.requires_grad from the inputs and,
  // if the tape records and some input needs a gradient, pushes this op.
  // Returns true when recorded, i.e. when forward must keep its caches.
  bool record(Tape& tape, std::initializer_list<const Var*> inputs);
  // Whether forward must cache for backward (tape recording and some input
  // requires a gradient). Call before computing, to skip caches otherwise.
  static bool will_record(const Tape& tape, std::initializer_list<const Var*> inputs);
};

class Tape {
 public:
  bool recording() const { return recording_; }
  void set_recording(bool on) { recording_ = on; }

  void push(Op* op) { ops_.push_back(op); }
  size_t size() const { return ops_.size(); }
  void clear() { ops_.clear(); }

  // Backpropagates from root, whose gradient is seeded with ones (a scalar
  // loss) or with `seed` (same shape as root.data). Clears the tape.
  void backward(Var& root);
  void backward(Var& root, const Tensor& seed);

 private:
  std::vector<Op*> ops_;
  bool recording_ = true;
};

// Evaluation mode for autograd: ops run without caching or recording while
// an instance lives (restores the previous state).
class NoGrad {
 public:
  explicit NoGrad(Tape& tape) : tape_(tape), was_(tape.recording()) { tape.set_recording(false); }
  ~NoGrad() { tape_.set_recording(was_); }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  Tape& tape_;
  bool was_;
};

// Zeroes the gradients of the given leaves (parameters).
void zero_grad(const std::vector<Var*>& params);
void zero_grad(Var& param);

}  // namespace taper
