// What SGD and Adam share: parameter-group checks, zero_grad, and the
// helpers that save and strictly load per-parameter state.
#include "engine/optimizer.h"

#include <cmath>

#include "engine/error.h"

namespace taper {

namespace {
// How messages name a checkpoint.
std::string from(const SafeTensors& in) {
  return in.source.empty() ? "the checkpoint" : "'" + in.source + "'";
}
}  // namespace

Optimizer::Optimizer(std::vector<ParamGroup> groups_, float lr_, const char* kind)
    : lr(lr_), groups(std::move(groups_)), kind_(kind) {
  check(std::isfinite(lr) && lr >= 0.0f, kind_, ": learning rate must be >= 0, got ", lr);
  std::set<std::string> names;
  for (size_t g = 0; g < groups.size(); ++g) {
    const ParamGroup& group = groups[g];
    check(std::isfinite(group.weight_decay) && group.weight_decay >= 0.0f, kind_,
          ": weight decay of parameter group ", g, " must be >= 0, got ", group.weight_decay);
    for (const NamedParam& p : group.params) {
      check(!p.name.empty(), kind_, ": a parameter in group ", g, " has no name");
      check(p.var != nullptr, kind_, ": parameter '", p.name, "' has no Var");
      check(names.insert(p.name).second, kind_, ": parameter '", p.name,
            "' appears twice in the parameter groups");
    }
  }
}

void Optimizer::zero_grad() {
  for (ParamGroup& group : groups)
    for (NamedParam& p : group.params) taper::zero_grad(*p.var);
}

void Optimizer::check_step(const NamedParam& p) const {
  check(std::isfinite(lr) && lr >= 0.0f, kind_, ": learning rate must be >= 0, got ", lr);
  check(p.var->grad.same_shape(p.var->data), kind_, ": gradient of '", p.name, "' has shape ",
        shape_str(p.var->grad.shape()), ", parameter has ", shape_str(p.var->data.shape()));
}

// ---- state I/O ---------------------------------------------------------------

void Optimizer::save_kind(SafeTensors& out, const std::string& prefix) const {
  out.metadata[prefix + "kind"] = kind_;
}

void Optimizer::check_kind(const SafeTensors& in, const std::string& prefix) const {
  auto it = in.metadata.find(prefix + "kind");
  check(it != in.metadata.end(), kind_, ": no optimizer state in ", from(in), " (metadata key '",
        prefix, "kind' missing)");
  check(it->second == kind_, kind_, ": ", from(in), " holds the state of a '", it->second,
        "' optimizer, not '", kind_, "'");
}

int64_t Optimizer::load_step(const SafeTensors& in, const std::string& key,
                             std::set<std::string>& used) const {
  check(in.has(key), kind_, ": optimizer state '", key, "' missing in ", from(in));
  Shape shape;
  std::vector<int64_t> v = in.get_i64(key, &shape);
  check(v.size() == 1 && v[0] >= 0, kind_, ": optimizer state '", key, "' in ", from(in),
        " must be one count >= 0, got shape ", shape_str(shape));
  used.insert(key);
  return v[0];
}

Tensor Optimizer::load_buffer(const SafeTensors& in, const std::string& key, const Var& param,
                              std::set<std::string>& used) const {
  check(in.has(key), kind_, ": optimizer state '", key, "' missing in ", from(in));
  Tensor t = in.get(key);
  check(t.same_shape(param.data), kind_, ": optimizer state '", key, "' in ", from(in),
        " has shape ", shape_str(t.shape()), ", the parameter has ", shape_str(param.data.shape()));
  used.insert(key);
  return t;
}

void Optimizer::check_no_leftovers(const SafeTensors& in, const std::string& prefix,
                                   const std::set<std::string>& used) const {
  if (prefix.empty()) return;  // the whole file is ours to read, not ours to police
  for (const auto& kv : in.entries) {
    if (kv.first.compare(0, prefix.size(), prefix) != 0) continue;
    check(used.count(kv.first) > 0, kind_, ": optimizer state '", kv.first, "' in ", from(in),
          " belongs to no parameter of this optimizer (another model or settings?)");
  }
}

}  // namespace taper
