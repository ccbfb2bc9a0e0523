#include "models/model.h"

#include <cmath>
#include <functional>
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
#include "models/size.h"
#include "quant/weight_quant.h"

namespace taper {

// One entry of a node's parameter table: everything `parameters`,
// `param_groups`, `save` and `load` need to know about one named tensor.
struct NodeTensor {
  std::string name;        // "<layer>.weight", "<layer>.running_mean", ...
  Tensor* tensor;          // saved and loaded; null: accepted in a file and ignored
  Var* param = nullptr;    // the trainable Var; null for a buffer (running statistics)
  bool decayed = false;    // weight decay applies (conv and linear weights only)
};

// One layer: its op, its forward (set once, where the layer is built), the
// tensors it owns with their parameter table and, for a quantized conv or
// linear, the weight quantizer in front of it.
struct Model::Node {
  const LayerSpec* layer = nullptr;
  std::unique_ptr<Op> op;
  // Runs the op on its inputs: a, and b for a two-input layer (add); w is
  // the weight to compute with (quantized when wq is set), null without one.
  std::function<Var&(Var& a, Var* b, Var* w, Tape& tape)> forward;
  // Seeded initialization of what the layer owns (node index i keeps the
  // random streams of different layers apart).
  std::function<void(uint64_t seed, size_t i)> init;
  Var weight, bias;                     // conv/linear weight and bias; batch norm gamma and beta
  Tensor running_mean, running_var;     // batch norm, (C)
  std::vector<NodeTensor> tensors;      // the parameter table
  std::unique_ptr<WeightQuantizer> wq;  // quantized conv/linear with bits < 32
  int wbits = 32;
  BatchNorm* batchnorm = nullptr;       // the op, when it is a batch norm (training flag, fusion)
  Dropout* dropout = nullptr;           // the op, when it is a dropout (training flag, random stream)
  // For an activation layer: the activation a batch norm can compute in its
  // own pass when this layer is its only reader (none: not fusable).
  FusedActivation fusable = FusedActivation::none;
  int fused_into = -1;  // an activation fused into batch norm layer fused_into: no op of its own
};

namespace {

using Node = Model::Node;

// PyTorch's default initialization of a conv or linear layer:
// weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn in that order.
void init_weighted(Node& n, uint64_t seed, size_t i) {
  Rng rng(seed, i);
  const int64_t fan_in = n.weight.data.numel() / n.weight.data.dim(0);
  const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
  for (int64_t k = 0; k < n.weight.data.numel(); ++k) n.weight.data[k] = rng.uniform(-bound, bound);
  if (n.layer->bias)
    for (int64_t k = 0; k < n.bias.data.numel(); ++k) n.bias.data[k] = rng.uniform(-bound, bound);
}

// The weight (decayed) and optional bias of a conv or linear layer, and its init.
void add_weight_and_bias(Node& n, Shape weight_shape, int64_t out) {
  const LayerSpec& L = *n.layer;
  n.weight = Var(Tensor(weight_shape), true);
  n.tensors.push_back({L.name + ".weight", &n.weight.data, &n.weight, /*decayed=*/true});
  if (L.bias) {
    n.bias = Var(Tensor({out}), true);
    n.tensors.push_back({L.name + ".bias", &n.bias.data, &n.bias});
  }
  n.init = [&n](uint64_t seed, size_t i) { init_weighted(n, seed, i); };
}

// An op with one input and no parameters: forward is op.forward(a, tape).
template <typename OpT>
void set_unary(Node& n, std::unique_ptr<OpT> op) {
  OpT& o = *op;
  n.op = std::move(op);
  n.forward = [&o](Var& a, Var*, Var*, Tape& tape) -> Var& { return o.forward(a, tape); };
}

}  // namespace

// The one place that turns a layer type into an op: each branch builds the
// op, its tensors and parameter table, its forward and its init.
void Model::build_node(Node& n, size_t index) {
  const LayerSpec& L = *n.layer;
  const Shape& in = L.in_shape;
  switch (L.type) {
    case LayerType::conv: {
      Conv2dParams p;
      p.in_channels = in[0];
      p.out_channels = L.out_channels;
      p.kernel_h = L.kernel_h, p.kernel_w = L.kernel_w;
      p.stride_h = L.stride_h, p.stride_w = L.stride_w;
      p.pad_h = L.pad_h, p.pad_w = L.pad_w;
      p.groups = L.groups;
      auto conv = std::make_unique<Conv2d>(p);
      Conv2d& op = *conv;
      n.op = std::move(conv);
      add_weight_and_bias(n, {L.out_channels, in[0] / L.groups, L.kernel_h, L.kernel_w}, L.out_channels);
      Var* bias = L.bias ? &n.bias : nullptr;
      n.forward = [&op, bias](Var& a, Var*, Var* w, Tape& tape) -> Var& { return op.forward(a, *w, bias, tape); };
      break;
    }
    case LayerType::linear: {
      auto linear = std::make_unique<Linear>();
      Linear& op = *linear;
      n.op = std::move(linear);
      add_weight_and_bias(n, {L.out_features, in[0]}, L.out_features);
      Var* bias = L.bias ? &n.bias : nullptr;
      n.forward = [&op, bias](Var& a, Var*, Var* w, Tape& tape) -> Var& { return op.forward(a, *w, bias, tape); };
      break;
    }
    case LayerType::batchnorm: {
      auto bn = std::make_unique<BatchNorm>();
      bn->eps = L.eps;
      bn->momentum = L.momentum;
      n.batchnorm = bn.get();
      n.op = std::move(bn);
      const int64_t C = in[0];
      n.weight = Var(Tensor::full({C}, 1.0f), true);  // gamma
      n.bias = Var(Tensor({C}), true);                // beta
      n.running_mean = Tensor({C});
      n.running_var = Tensor::full({C}, 1.0f);
      n.tensors = {{L.name + ".weight", &n.weight.data, &n.weight},
                   {L.name + ".bias", &n.bias.data, &n.bias},
                   {L.name + ".running_mean", &n.running_mean},
                   {L.name + ".running_var", &n.running_var},
                   {L.name + ".num_batches_tracked", nullptr}};  // PyTorch's step counter: ignored
      n.forward = [&n](Var& a, Var*, Var*, Tape& tape) -> Var& {
        return n.batchnorm->forward(a, n.weight, n.bias, n.running_mean, n.running_var, tape);
      };
      n.init = [&n](uint64_t, size_t) {
        n.weight.data.fill(1.0f);
        n.bias.data.zero();
        n.running_mean.zero();
        n.running_var.fill(1.0f);
      };
      break;
    }
    case LayerType::relu:
      set_unary(n, std::make_unique<ReLU>());
      n.fusable = FusedActivation::relu;
      break;
    case LayerType::qact:  // the activation quantizer, or a ReLU at 32 bits
      if (options_.abits < 32) {
        set_unary(n, std::make_unique<ActQuant>(options_.abits));
        n.fusable = FusedActivation::quantize;
      } else {
        set_unary(n, std::make_unique<ReLU>());
        n.fusable = FusedActivation::relu;
      }
      break;
    case LayerType::clamp: set_unary(n, std::make_unique<Clamp>(L.lo, L.hi)); break;
    case LayerType::maxpool: set_unary(n, std::make_unique<MaxPool2d>(L.kernel_h, L.stride_h, L.pad_h)); break;
    case LayerType::avgpool: set_unary(n, std::make_unique<AvgPool2d>(L.kernel_h, L.stride_h, L.pad_h)); break;
    case LayerType::globalavgpool: set_unary(n, std::make_unique<GlobalAvgPool>()); break;
    case LayerType::flatten: set_unary(n, std::make_unique<Flatten>()); break;
    case LayerType::dropout: {
      auto dropout = std::make_unique<Dropout>(L.p, /*seed=*/index);
      n.dropout = dropout.get();
      set_unary(n, std::move(dropout));
      n.init = [&n](uint64_t seed, size_t i) { n.dropout->rng = Rng(seed, 1000000 + i); };
      break;
    }
    case LayerType::add: {
      auto add = std::make_unique<Add>();
      Add& op = *add;
      n.op = std::move(add);
      n.forward = [&op](Var& a, Var* b, Var*, Tape& tape) -> Var& { return op.forward(a, *b, tape); };
      break;
    }
  }
  if (L.has_weights()) {
    n.wbits = layer_wbits(L, options_.stage_bits);
    if (n.wbits < 32) n.wq = std::make_unique<WeightQuantizer>(n.wbits, options_.binarize_per_tensor);
  }
}

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
    build_node(*n, nodes_.size());
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
    if (!nodes_[i]->batchnorm) continue;
    int reader = -1, readers = 0;
    for (size_t j = 0; j < layers.size(); ++j)
      for (int in : layers[j].inputs)
        if (in == static_cast<int>(i)) ++readers, reader = static_cast<int>(j);
    if (readers != 1) continue;
    Node& act = *nodes_[reader];
    if (act.layer->inputs.size() != 1 || act.fusable == FusedActivation::none) continue;
    nodes_[i]->batchnorm->fuse_activation(act.fusable, options_.abits);
    act.op.reset();
    act.forward = nullptr;
    act.fused_into = static_cast<int>(i);
  }
}

void Model::init(uint64_t seed) {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i]->init) nodes_[i]->init(seed, i);
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
    Var* w = L.has_weights() ? &n.weight : nullptr;
    if (n.wq) {
      ProfileScope scope(n.wq->type(), "forward");
      w = &n.wq->forward(n.weight, tape);
    }
    ProfileScope scope(n.op->type(), "forward");
    Var* b = L.inputs.size() > 1 ? &input(L.inputs[1]) : nullptr;
    outs[i] = &n.forward(input(L.inputs[0]), b, w, tape);
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
    if (n->batchnorm) n->batchnorm->training = on;
    if (n->dropout) n->dropout->training = on;
  }
}

std::vector<NamedParam> Model::parameters() {
  std::vector<NamedParam> out;
  for (auto& n : nodes_)
    for (const NodeTensor& t : n->tensors)
      if (t.param) out.push_back({t.name, t.param});
  return out;
}

std::vector<ParamGroup> Model::param_groups(float weight_decay) {
  ParamGroup decayed, plain;
  decayed.weight_decay = weight_decay;
  plain.weight_decay = 0.0f;
  for (auto& n : nodes_)
    for (const NodeTensor& t : n->tensors)
      if (t.param) (t.decayed ? decayed : plain).params.push_back({t.name, t.param});
  return {decayed, plain};
}

void Model::save(SafeTensors& out) const {
  for (const auto& n : nodes_)
    for (const NodeTensor& t : n->tensors)
      if (t.tensor) out.put(t.name, *t.tensor);
}

void Model::load(const SafeTensors& in, const std::string& others_prefix) {
  std::set<std::string> expected;
  for (auto& n : nodes_)
    for (const NodeTensor& t : n->tensors) {
      expected.insert(t.name);
      if (!t.tensor) continue;  // tolerated, not read
      check(in.has(t.name), in.source, ": tensor \"", t.name, "\" is missing (model ", spec_.name, ")");
      Tensor got = in.get(t.name);
      check(got.same_shape(*t.tensor), in.source, ": tensor \"", t.name, "\" has shape ", shape_str(got.shape()),
            " but the model needs ", shape_str(t.tensor->shape()));
      t.tensor->copy_from(got);
    }
  for (const auto& [name, entry] : in.entries)
    check(expected.count(name) > 0 || (!others_prefix.empty() && name.rfind(others_prefix, 0) == 0), in.source,
          ": tensor \"", name, "\" does not belong to model ", spec_.name, " (no such layer or parameter)");
}

int Model::layer_bits(size_t layer) const { return nodes_.at(layer)->wbits; }

std::vector<std::string> Model::rng_states() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_)
    if (n->dropout) out.push_back(n->dropout->rng.state());
  return out;
}

void Model::set_rng_states(const std::vector<std::string>& states) {
  size_t k = 0;
  for (auto& n : nodes_)
    if (n->dropout) {
      check(k < states.size(), "expected a random state for dropout layer '", n->layer->name, "'");
      n->dropout->rng.set_state(states[k++]);
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
