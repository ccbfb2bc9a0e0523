// Optimizers: SGD (with momentum / Nesterov) and Adam / AdamW, with
// torch.optim's update rules, per-group weight decay, and their state saved
// as named tensors for checkpoints.
//
// Parameters come in groups; each group has its own weight decay (the usual
// use: decay the conv/linear weights, not the batch-norm scales and biases).
// step() updates every parameter that has a gradient; a parameter whose grad
// is empty (never reached by a backward pass) is skipped and keeps its state.
// lr is a public field: the training loop sets it from the LR schedule before
// each epoch.
//
// The update rules, per element, with p the parameter, g its gradient, wd the
// group's weight decay (implemented in sgd.cpp and adam.cpp):
//
// SGD (torch.optim.SGD):
//   g = g + wd p
//   if momentum != 0:
//     b = g                                     on the parameter's first step
//     b = momentum b + (1 - dampening) g        after that
//     g = nesterov ? g + momentum b : b
//   p = p - lr g
//
// Adam (torch.optim.Adam) and AdamW (torch.optim.AdamW), t = the parameter's
// step count, from 1:
//   Adam:  g = g + wd p                         (L2 penalty through the gradient)
//   AdamW: p = p (1 - lr wd)                    (decoupled decay instead; no wd in g)
//   m = beta1 m + (1 - beta1) g
//   v = beta2 v + (1 - beta2) g^2
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//
// Saved state, under a caller's prefix (e.g. "optimizer."):
//   metadata  "<prefix>kind"                    "sgd", "adam" or "adamw"
//   I64 ()    "<prefix><param>.step"            updates the parameter has had
//   F32       "<prefix><param>.momentum_buffer" SGD with momentum, once stepped
//   F32       "<prefix><param>.exp_avg"         Adam m, once stepped
//   F32       "<prefix><param>.exp_avg_sq"      Adam v, once stepped
// load_state is all-or-nothing and strict: a missing or mis-shaped buffer, a
// state of another optimizer kind, or (with a non-empty prefix) an entry
// under the prefix that names no parameter throws Error naming the key.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/safetensors.h"

namespace taper {

struct NamedParam {
  std::string name;  // unique across all groups; keys the saved state
  Var* var;
};

struct ParamGroup {
  std::vector<NamedParam> params;
  float weight_decay = 0.0f;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every parameter with a non-empty grad, using lr.
  virtual void step() = 0;
  // Zeroes the grad of every parameter in every group (taper::zero_grad).
  void zero_grad();

  float lr = 0.1f;
  std::vector<ParamGroup> groups;

  // The per-parameter state as named tensors under prefix (the table above),
  // and back. One implementation for every optimizer: each names its buffers
  // (buffer_names) and keeps them in ParamState::buffers in that order.
  void save_state(SafeTensors& out, const std::string& prefix) const;
  void load_state(const SafeTensors& in, const std::string& prefix);

 protected:
  Optimizer(std::vector<ParamGroup> groups_, float lr_, const char* kind);
  // Throws Error for a bad lr (step() calls it: lr changes between steps)
  // or a grad whose shape does not match its parameter.
  void check_step(const NamedParam& p) const;

  struct ParamState {
    int64_t steps = 0;            // updates the parameter has had
    std::vector<Tensor> buffers;  // buffer_names(), each shaped as the parameter; empty until the first step
  };

  // The loop of every step(): update(param, state, weight_decay) for each
  // parameter with a non-empty grad, after check_step, in group order.
  template <typename Update>
  void for_each_update(Update&& update) {
    for (ParamGroup& group : groups)
      for (NamedParam& p : group.params) {
        if (p.var->grad.empty()) continue;
        check_step(p);
        update(p, state_[p.name], group.weight_decay);
      }
  }
  // The buffers a parameter that has been stepped keeps, as saved:
  // "<prefix><param>.<name>". SGD: momentum_buffer (none without momentum);
  // Adam: exp_avg, exp_avg_sq.
  virtual std::vector<std::string> buffer_names() const = 0;

  std::map<std::string, ParamState> state_;  // by parameter name
  std::string kind_;                         // "sgd", "adam", "adamw": for messages and saved state
};

// Zeroes the grad of every parameter in every group (taper::zero_grad).
void zero_grad(std::vector<ParamGroup>& groups);

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, float lr, float momentum, bool nesterov,
      float dampening = 0.0f);
  void step() override;

  const float momentum, dampening;
  const bool nesterov;

 private:
  std::vector<std::string> buffer_names() const override;
};

class Adam : public Optimizer {
 public:
  // decoupled = true gives AdamW.
  Adam(std::vector<ParamGroup> groups, float lr, float beta1 = 0.9f, float beta2 = 0.999f,
       float eps = 1e-8f, bool decoupled = false);
  void step() override;

  const float beta1, beta2, eps;
  const bool decoupled;

 private:
  std::vector<std::string> buffer_names() const override;  // m, v
};

// Adam's elementwise update of n elements at step t, with the per-step
// scalars computed once per tensor as PyTorch does:
//   step_size = lr / (1 - beta1^t),  bc2_sqrt = sqrt(1 - beta2^t),
//   decay = 1 - lr wd (AdamW) or 1 (Adam),  l2 = wd (Adam) or 0 (AdamW).
// p, grad, m, v (n). adam_update is vectorized; adam_update_ref is the
// plain loop the tests hold it to.
struct AdamScalars {
  float beta1, beta2, eps, step_size, bc2_sqrt, decay, l2;
};
void adam_update(float* p, const float* grad, float* m, float* v, int64_t n, const AdamScalars& c);
void adam_update_ref(float* p, const float* grad, float* m, float* v, int64_t n,
                     const AdamScalars& c);

}  // namespace taper
