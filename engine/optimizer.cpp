// What SGD and Adam share: parameter-group checks, zero_grad, and saving and
// strictly loading the per-parameter state (a step count and named buffers).
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

void zero_grad(std::vector<ParamGroup>& groups) {
  for (ParamGroup& group : groups)
    for (NamedParam& p : group.params) zero_grad(*p.var);
}

void Optimizer::zero_grad() { taper::zero_grad(groups); }

void Optimizer::check_step(const NamedParam& p) const {
  check(std::isfinite(lr) && lr >= 0.0f, kind_, ": learning rate must be >= 0, got ", lr);
  check(p.var->grad.same_shape(p.var->data), kind_, ": gradient of '", p.name, "' has shape ",
        shape_str(p.var->grad.shape()), ", parameter has ", shape_str(p.var->data.shape()));
}

// ---- state I/O ---------------------------------------------------------------

namespace {

// Reads one saved tensor or count and records its key in `used`, so that
// load_state can reject entries no parameter consumed.
struct StateReader {
  const SafeTensors& in;
  const std::string& kind;
  std::set<std::string> used;

  int64_t step(const std::string& key) {
    check(in.has(key), kind, ": optimizer state '", key, "' missing in ", from(in));
    Shape shape;
    std::vector<int64_t> v = in.get_i64(key, &shape);
    check(v.size() == 1 && v[0] >= 0, kind, ": optimizer state '", key, "' in ", from(in),
          " must be one count >= 0, got shape ", shape_str(shape));
    used.insert(key);
    return v[0];
  }

  Tensor buffer(const std::string& key, const Var& param) {
    check(in.has(key), kind, ": optimizer state '", key, "' missing in ", from(in));
    Tensor t = in.get(key);
    check(t.same_shape(param.data), kind, ": optimizer state '", key, "' in ", from(in), " has shape ",
          shape_str(t.shape()), ", the parameter has ", shape_str(param.data.shape()));
    used.insert(key);
    return t;
  }

  void check_no_leftovers(const std::string& prefix) const {
    if (prefix.empty()) return;  // the whole file is ours to read, not ours to police
    for (const auto& kv : in.entries) {
      if (kv.first.compare(0, prefix.size(), prefix) != 0) continue;
      check(used.count(kv.first) > 0, kind, ": optimizer state '", kv.first, "' in ", from(in),
            " belongs to no parameter of this optimizer (another model or settings?)");
    }
  }
};

}  // namespace

void Optimizer::save_state(SafeTensors& out, const std::string& prefix) const {
  out.metadata[prefix + "kind"] = kind_;
  const std::vector<std::string> names = buffer_names();
  for (const ParamGroup& group : groups)
    for (const NamedParam& p : group.params) {
      auto it = state_.find(p.name);
      const int64_t steps = it == state_.end() ? 0 : it->second.steps;
      out.put_i64(prefix + p.name + ".step", {}, {steps});
      if (steps > 0)
        for (size_t b = 0; b < names.size(); ++b)
          out.put(prefix + p.name + "." + names[b], it->second.buffers[b]);
    }
}

void Optimizer::load_state(const SafeTensors& in, const std::string& prefix) {
  auto kind = in.metadata.find(prefix + "kind");
  check(kind != in.metadata.end(), kind_, ": no optimizer state in ", from(in), " (metadata key '", prefix,
        "kind' missing)");
  check(kind->second == kind_, kind_, ": ", from(in), " holds the state of a '", kind->second,
        "' optimizer, not '", kind_, "'");
  const std::vector<std::string> names = buffer_names();
  StateReader read{in, kind_, {}};
  std::map<std::string, ParamState> loaded;
  for (const ParamGroup& group : groups)
    for (const NamedParam& p : group.params) {
      ParamState s;
      s.steps = read.step(prefix + p.name + ".step");
      if (s.steps > 0)
        for (const std::string& name : names)
          s.buffers.push_back(read.buffer(prefix + p.name + "." + name, *p.var));
      loaded[p.name] = s;
    }
  read.check_no_leftovers(prefix);
  state_ = std::move(loaded);  // all or nothing: the state changes only once everything loaded
}

}  // namespace taper
