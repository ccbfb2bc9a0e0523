// SGD with momentum, dampening and Nesterov momentum, as torch.optim.SGD.
#include <cmath>

#include "engine/error.h"
#include "engine/optimizer.h"

namespace taper {

namespace {

// One SGD update of n elements (the rule in optimizer.h):
//   g = grad + wd p
//   buf = first ? g : momentum buf + (1 - dampening) g     (when momentum != 0)
//   g = nesterov ? g + momentum buf : buf                  (when momentum != 0)
//   p = p - lr g
// p, grad, buf (n); buf is unused when momentum == 0. The compiler
// vectorizes this loop as it stands, which makes it memory-bound: no
// threads, they did not pay on two cores.
void sgd_update(float* p, const float* grad, float* buf, int64_t n, float lr, float wd,
                float momentum, float dampening, bool nesterov, bool first) {
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i];
    if (wd != 0.0f) g += wd * p[i];
    if (momentum != 0.0f) {
      buf[i] = first ? g : momentum * buf[i] + (1.0f - dampening) * g;
      g = nesterov ? g + momentum * buf[i] : buf[i];
    }
    p[i] -= lr * g;
  }
}

}  // namespace

SGD::SGD(std::vector<ParamGroup> groups_, float lr_, float momentum_, bool nesterov_,
         float dampening_)
    : Optimizer(std::move(groups_), lr_, "sgd"),
      momentum(momentum_),
      dampening(dampening_),
      nesterov(nesterov_) {
  check(std::isfinite(momentum) && momentum >= 0.0f, "sgd: momentum must be >= 0, got ", momentum);
  check(std::isfinite(dampening), "sgd: dampening must be finite, got ", dampening);
  check(!nesterov || (momentum > 0.0f && dampening == 0.0f),
        "sgd: Nesterov momentum needs momentum > 0 and dampening 0, got momentum ", momentum,
        " and dampening ", dampening);
}

void SGD::step() {
  for (ParamGroup& group : groups) {
    for (NamedParam& p : group.params) {
      Var& v = *p.var;
      if (v.grad.empty()) continue;
      check_step(p);
      State& s = state_[p.name];
      const bool first = momentum != 0.0f && s.momentum_buffer.empty();
      if (first) s.momentum_buffer = Tensor(v.data.shape());  // same shape as the parameter
      if (momentum != 0.0f) {
        check(s.momentum_buffer.same_shape(v.data), "sgd: parameter '", p.name,
              "' changed shape to ", shape_str(v.data.shape()), " since its momentum began");
      }
      sgd_update(v.data.data(), v.grad.data(), s.momentum_buffer.data(), v.data.numel(), lr,
                 group.weight_decay, momentum, dampening, nesterov, first);
      ++s.steps;
    }
  }
}

void SGD::save_state(SafeTensors& out, const std::string& prefix) const {
  save_kind(out, prefix);
  for (const ParamGroup& group : groups)
    for (const NamedParam& p : group.params) {
      auto it = state_.find(p.name);
      const int64_t steps = it == state_.end() ? 0 : it->second.steps;
      out.put_i64(prefix + p.name + ".step", {}, {steps});
      if (steps > 0 && momentum != 0.0f)
        out.put(prefix + p.name + ".momentum_buffer", it->second.momentum_buffer);
    }
}

void SGD::load_state(const SafeTensors& in, const std::string& prefix) {
  check_kind(in, prefix);
  std::set<std::string> used;
  std::map<std::string, State> loaded;
  for (const ParamGroup& group : groups)
    for (const NamedParam& p : group.params) {
      State s;
      s.steps = load_step(in, prefix + p.name + ".step", used);
      if (s.steps > 0 && momentum != 0.0f)
        s.momentum_buffer = load_buffer(in, prefix + p.name + ".momentum_buffer", *p.var, used);
      loaded[p.name] = s;
    }
  check_no_leftovers(in, prefix, used);
  state_ = std::move(loaded);
}

}  // namespace taper
