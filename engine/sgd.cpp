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
  for_each_update([&](NamedParam& p, ParamState& s, float wd) {
    Var& v = *p.var;
    const bool first = momentum != 0.0f && s.buffers.empty();
    if (first) s.buffers.emplace_back(v.data.shape());  // the momentum buffer, same shape as the parameter
    float* buf = nullptr;                               // unused without momentum
    if (momentum != 0.0f) {
      check(s.buffers[0].same_shape(v.data), "sgd: parameter '", p.name, "' changed shape to ",
            shape_str(v.data.shape()), " since its momentum began");
      buf = s.buffers[0].data();
    }
    sgd_update(v.data.data(), v.grad.data(), buf, v.data.numel(), lr, wd, momentum, dampening, nesterov, first);
    ++s.steps;
  });
}

std::vector<std::string> SGD::buffer_names() const {
  if (momentum == 0.0f) return {};
  return {"momentum_buffer"};
}

}  // namespace taper
