#include "models/model.h"

#include <cmath>
#include <set>

#include "engine/error.h"
#include "engine/profiler.h"
#include "engine/rng.h"
#include "layers/activation.h"
#include "layers/add.h"
#include "layers/batchnorm.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/pool.h"
#include "quant/act_quant.h"
#include "quant/size.h"
#include "quant/weight_quant.h"

namespace taper {

// One layer: its op, the parameters it reads and, for a quantized conv or
// linear, the weight quantizer in front of it.
struct Model::Node {
  const LayerSpec* layer = nullptr;
  std::unique_ptr<Op> op;
  Var weight, bias;                     // conv/linear weight and bias; batch norm gamma and beta
  Tensor running_mean, running_var;     // batch norm, (C)
  std::unique_ptr<WeightQuantizer> wq;  // quantized conv/linear with bits < 32
  int wbits = 32;
  int fused_into = -1;  // an activation fused into batch norm layer fused_into: no op of its own
};

Model::~Model() = default;

Model::Model(ModelSpec spec, BuildOptions options) : spec_(std::move(spec)), options_(std::move(options)) {
  if (options_.stage_bits.empty()) options_.stage_bits.assign(spec_.num_stages, 32);
  check(static_cast<int>(options_.stage_bits.size()) == spec_.num_stages, spec_.source, ": the policy gives ",
        options_.stage_bits.size(), " stage bits but the model has ", spec_.num_stages, " stages");
  check((options_.abits >= 1 && options_.abits <= 8) || options_.abits == 32, "activation bits ",
        options_.abits, ": expected 1-8 or 32");
  for (const LayerSpec& L : spec_.layers) {
    auto n = std::make_unique<Node>();
    n->layer = &L;
    const Shape& in = L.in_shape;
    if (L.type == "conv") {
      Conv2dParams p;
      p.in_channels = in[0];
      p.out_channels = L.out_channels;
      p.kernel_h = L.kernel_h, p.kernel_w = L.kernel_w;
      p.stride_h = L.stride_h, p.stride_w = L.stride_w;
      p.pad_h = L.pad_h, p.pad_w = L.pad_w;
      p.groups = L.groups;
      n->op = std::make_unique<Conv2d>(p);
      n->weight = Var(Tensor({L.out_channels, in[0] / L.groups, L.kernel_h, L.kernel_w}), true);
      if (L.bias) n->bias = Var(Tensor({L.out_channels}), true);
    } else if (L.type == "linear") {
      n->op = std::make_unique<Linear>();
      n->weight = Var(Tensor({L.out_features, in[0]}), true);
      if (L.bias) n->bias = Var(Tensor({L.out_features}), true);
    } else if (L.type == "batchnorm") {
      auto bn = std::make_unique<BatchNorm>();
      bn->eps = L.eps;
      bn->momentum = L.momentum;
      n->op = std::move(bn);
      const int64_t C = in[0];
      n->weight = Var(Tensor::full({C}, 1.0f), true);
      n->bias = Var(Tensor({C}), true);
      n->running_mean = Tensor({C});
      n->running_var = Tensor::full({C}, 1.0f);
    } else if (L.type == "relu") {
      n->op = std::make_unique<ReLU>();
    } else if (L.type == "qact") {
      if (options_.abits < 32)
        n->op = std::make_unique<ActQuant>(options_.abits);
      else
        n->op = std::make_unique<ReLU>();
    } else if (L.type == "clamp") {
      n->op = std::make_unique<Clamp>(L.lo, L.hi);
    } else if (L.type == "maxpool") {
      n->op = std::make_unique<MaxPool2d>(L.kernel_h, L.stride_h, L.pad_h);
    } else if (L.type == "avgpool") {
      n->op = std::make_unique<AvgPool2d>(L.kernel_h, L.stride_h, L.pad_h);
    } else if (L.type == "globalavgpool") {
      n->op = std::make_unique<GlobalAvgPool>();
    } else if (L.type == "flatten") {
      n->op = std::make_unique<Flatten>();
    } else if (L.type == "dropout") {
      n->op = std::make_unique<Dropout>(L.p, /*seed=*/nodes_.size());
    } else if (L.type == "add") {
      n->op = std::make_unique<Add>();
    } else {
      fail(spec_.source, ": layer '", L.name, "': type ", L.type, " cannot be built");
    }
    if (L.has_weights()) {
      n->wbits = layer_wbits(L, options_.stage_bits);
      if (n->wbits < 32) n->wq = std::make_unique<WeightQuantizer>(n->wbits, options_.binarize_per_tensor);
    }
    nodes_.push_back(std::move(n));
  }
  if (options_.fuse) fuse_batchnorm_activations();
  plan_releases();
}

int Model::producer(int layer) const {
  return nodes_[layer]->fused_into >= 0 ? nodes_[layer]->fused_into : layer;
}

void Model::plan_releases() {
  const int n = static_cast<int>(nodes_.size());
  last_reader_.assign(n, -1);
  keep_.assign(n, false);
  keep_[producer(n - 1)] = true;  // the logits go to the caller
  for (int j = 0; j < n; ++j) {
    if (nodes_[j]->fused_into >= 0) continue;  // no op of its own
    const Op& op = *nodes_[j]->op;
    if (op.backward_reads_output()) keep_[j] = true;
    const std::vector<int>& inputs = nodes_[j]->layer->inputs;
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (inputs[k] < 0) continue;  // the network input belongs to the caller
      const int p = producer(inputs[k]);
      last_reader_[p] = std::max(last_reader_[p], j);
      if (op.backward_reads_input(static_cast<int>(k))) keep_[p] = true;
    }
  }
}

// A batch norm whose only reader is a ReLU or a quantizable activation
// computes that activation itself; the activation layer then passes the
// batch norm's output on.
void Model::fuse_batchnorm_activations() {
  const auto& layers = spec_.layers;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].type != "batchnorm") continue;
    int reader = -1, readers = 0;
    for (size_t j = 0; j < layers.size(); ++j)
      for (int in : layers[j].inputs)
        if (in == static_cast<int>(i)) ++readers, reader = static_cast<int>(j);
    if (readers != 1) continue;
    const LayerSpec& act = layers[reader];
    if (act.inputs.size() != 1 || (act.type != "relu" && act.type != "qact")) continue;
    auto& bn = static_cast<BatchNorm&>(*nodes_[i]->op);
    if (act.type == "qact" && options_.abits < 32)
      bn.fuse_activation(FusedActivation::quantize, options_.abits);
    else
      bn.fuse_activation(FusedActivation::relu);
    nodes_[reader]->op.reset();
    nodes_[reader]->fused_into = static_cast<int>(i);
  }
}

void Model::init(uint64_t seed) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = *nodes_[i];
    const LayerSpec& L = *n.layer;
    Rng rng(seed, i);
    if (L.has_weights()) {
      const int64_t fan_in = n.weight.data.numel() / n.weight.data.dim(0);
      const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
      for (int64_t k = 0; k < n.weight.data.numel(); ++k) n.weight.data[k] = rng.uniform(-bound, bound);
      if (L.bias)
        for (int64_t k = 0; k < n.bias.data.numel(); ++k) n.bias.data[k] = rng.uniform(-bound, bound);
    } else if (L.type == "dropout") {
      static_cast<Dropout&>(*n.op).rng = Rng(seed, 1000000 + i);
    } else if (L.type == "batchnorm") {
      n.weight.data.fill(1.0f);
      n.bias.data.zero();
      n.running_mean.zero();
      n.running_var.fill(1.0f);
    }
  }
}

Var& Model::forward(Var& x, Tape& tape) {
  check(x.data.ndim() == 4 && x.data.dim(1) == spec_.input[0] && x.data.dim(2) == spec_.input[1] &&
            x.data.dim(3) == spec_.input[2],
        spec_.name, ": input ", shape_str(x.data.shape()), " does not match the model's (N, ",
        spec_.input[0], ", ", spec_.input[1], ", ", spec_.input[2], ")");
  std::vector<Var*>& outs = outs_;  // kept between calls: no allocation once warm
  outs.assign(nodes_.size(), nullptr);
  auto input = [&](int i) -> Var& { return i < 0 ? x : *outs[i]; };
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = *nodes_[i];
    const LayerSpec& L = *n.layer;
    if (n.fused_into >= 0) {  // computed by the batch norm before it
      outs[i] = outs[n.fused_into];
      continue;
    }
    Var& a = input(L.inputs[0]);
    Var* bias = L.bias && L.has_weights() ? &n.bias : nullptr;
    Var* w = &n.weight;
    if (n.wq) {
      ProfileScope scope(n.wq->type(), "forward");
      w = &n.wq->forward(n.weight, tape);
    }
    ProfileScope scope(n.op->type(), "forward");
    const std::string& t = L.type;
    if (t == "conv") {
      outs[i] = &static_cast<Conv2d&>(*n.op).forward(a, *w, bias, tape);
    } else if (t == "linear") {
      outs[i] = &static_cast<Linear&>(*n.op).forward(a, *w, bias, tape);
    } else if (t == "batchnorm") {
      outs[i] = &static_cast<BatchNorm&>(*n.op).forward(a, n.weight, n.bias, n.running_mean, n.running_var, tape);
    } else if (t == "relu" || (t == "qact" && options_.abits == 32)) {
      outs[i] = &static_cast<ReLU&>(*n.op).forward(a, tape);
    } else if (t == "qact") {
      outs[i] = &static_cast<ActQuant&>(*n.op).forward(a, tape);
    } else if (t == "clamp") {
      outs[i] = &static_cast<Clamp&>(*n.op).forward(a, tape);
    } else if (t == "maxpool") {
      outs[i] = &static_cast<MaxPool2d&>(*n.op).forward(a, tape);
    } else if (t == "avgpool") {
      outs[i] = &static_cast<AvgPool2d&>(*n.op).forward(a, tape);
    } else if (t == "globalavgpool") {
      outs[i] = &static_cast<GlobalAvgPool&>(*n.op).forward(a, tape);
    } else if (t == "flatten") {
      outs[i] = &static_cast<Flatten&>(*n.op).forward(a, tape);
    } else if (t == "dropout") {
      outs[i] = &static_cast<Dropout&>(*n.op).forward(a, tape);
    } else if (t == "add") {
      outs[i] = &static_cast<Add&>(*n.op).forward(a, input(L.inputs[1]), tape);
    }
    // Free the inputs this layer was the last to read, unless a backward needs them.
    for (int in : L.inputs) {
      if (in < 0) continue;
      const int p = producer(in);
      if (last_reader_[p] == static_cast<int>(i) && !(tape.recording() && keep_[p]))
        nodes_[p]->op->out.data.release();
    }
  }
  return *outs.back();
}

void Model::set_training(bool on) {
  training_ = on;
  for (auto& n : nodes_) {
    if (n->layer->type == "batchnorm") static_cast<BatchNorm&>(*n->op).training = on;
    if (n->layer->type == "dropout") static_cast<Dropout&>(*n->op).training = on;
  }
}

std::vector<NamedParam> Model::parameters() {
  std::vector<NamedParam> out;
  for (auto& n : nodes_) {
    const LayerSpec& L = *n->layer;
    if (L.has_weights() || L.type == "batchnorm") out.push_back({L.name + ".weight", &n->weight});
    if ((L.has_weights() && L.bias) || L.type == "batchnorm") out.push_back({L.name + ".bias", &n->bias});
  }
  return out;
}

std::vector<ParamGroup> Model::param_groups(float weight_decay) {
  ParamGroup decayed, plain;
  decayed.weight_decay = weight_decay;
  plain.weight_decay = 0.0f;
  for (auto& n : nodes_) {
    const LayerSpec& L = *n->layer;
    if (L.has_weights()) {
      decayed.params.push_back({L.name + ".weight", &n->weight});
      if (L.bias) plain.params.push_back({L.name + ".bias", &n->bias});
    } else if (L.type == "batchnorm") {
      plain.params.push_back({L.name + ".weight", &n->weight});
      plain.params.push_back({L.name + ".bias", &n->bias});
    }
  }
  return {decayed, plain};
}

void Model::save(SafeTensors& out) const {
  for (const auto& n : nodes_) {
    const LayerSpec& L = *n->layer;
    if (L.has_weights() || L.type == "batchnorm") out.put(L.name + ".weight", n->weight.data);
    if ((L.has_weights() && L.bias) || L.type == "batchnorm") out.put(L.name + ".bias", n->bias.data);
    if (L.type == "batchnorm") {
      out.put(L.name + ".running_mean", n->running_mean);
      out.put(L.name + ".running_var", n->running_var);
    }
  }
}

void Model::load(const SafeTensors& in, const std::string& others_prefix) {
  std::set<std::string> expected;
  auto take = [&](const std::string& name, Tensor& dst) {
    expected.insert(name);
    check(in.has(name), in.source, ": tensor \"", name, "\" is missing (model ", spec_.name, ")");
    Tensor t = in.get(name);
    check(t.same_shape(dst), in.source, ": tensor \"", name, "\" has shape ", shape_str(t.shape()),
          " but the model needs ", shape_str(dst.shape()));
    dst.copy_from(t);
  };
  for (auto& n : nodes_) {
    const LayerSpec& L = *n->layer;
    if (L.has_weights() || L.type == "batchnorm") take(L.name + ".weight", n->weight.data);
    if ((L.has_weights() && L.bias) || L.type == "batchnorm") take(L.name + ".bias", n->bias.data);
    if (L.type == "batchnorm") {
      take(L.name + ".running_mean", n->running_mean);
      take(L.name + ".running_var", n->running_var);
      expected.insert(L.name + ".num_batches_tracked");
    }
  }
  for (const auto& [name, entry] : in.entries)
    check(expected.count(name) > 0 || (!others_prefix.empty() && name.rfind(others_prefix, 0) == 0), in.source, ": tensor \"", name, "\" does not belong to model ",
          spec_.name, " (no such layer or parameter)");
}

int Model::layer_bits(size_t layer) const { return nodes_.at(layer)->wbits; }

std::vector<std::string> Model::rng_states() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_)
    if (n->layer->type == "dropout") out.push_back(static_cast<const Dropout&>(*n->op).rng.state());
  return out;
}

void Model::set_rng_states(const std::vector<std::string>& states) {
  size_t k = 0;
  for (auto& n : nodes_)
    if (n->layer->type == "dropout") {
      check(k < states.size(), "expected a random state for dropout layer '", n->layer->name, "'");
      static_cast<Dropout&>(*n->op).rng.set_state(states[k++]);
    }
  check(k == states.size(), "got ", states.size(), " dropout random states for ", k, " dropout layers");
}

std::vector<Tensor> Model::forward_features(Var& x, const std::vector<int>& layers) {
  const int n = static_cast<int>(nodes_.size());
  for (int l : layers) check(l >= 0 && l < n, spec_.name, ": no layer ", l, " to read features from");
  // forward frees an output after its last reader; give the requested ones a
  // reader past the end so they survive the pass, then restore the plan.
  const std::vector<int> plan = last_reader_;
  for (int l : layers) last_reader_[producer(l)] = n;
  Tape tape;
  NoGrad no_grad(tape);
  try {
    forward(x, tape);
  } catch (...) {
    last_reader_ = plan;
    throw;
  }
  last_reader_ = plan;
  std::vector<Tensor> out;
  for (int l : layers) out.push_back(outs_[l]->data.clone());
  for (int l : layers)
    if (producer(l) != producer(n - 1)) nodes_[producer(l)]->op->out.data.release();
  return out;
}

}  // namespace taper
