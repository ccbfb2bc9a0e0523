// Model — a network built from a ModelSpec: one Op per layer, the
// parameters they read, and a forward pass over the declared graph.
//
// Quantizable layers (a stage index in the JSON) get their bits from the
// per-stage policy: a conv or linear with b < 32 bits reads its weight through
// a WeightQuantizer op (quantized once per forward), and every "qact" layer is
// an activation quantizer when abits < 32, a ReLU at 32.
//
// Tensor names follow PyTorch's state_dict: "<layer>.weight", "<layer>.bias",
// and for batch norm also "<layer>.running_mean", "<layer>.running_var"
// (batch norm's gamma and beta are its weight and bias).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/optimizer.h"
#include "engine/safetensors.h"
#include "models/model_spec.h"

namespace taper {

struct BuildOptions {
  std::vector<int> stage_bits;       // one per stage (parse_wbits); empty = all 32
  int abits = 32;                    // 1-8, or 32 for ReLU
  bool binarize_per_tensor = false;  // 1-bit scale per tensor instead of per output channel
  // Fuse a batch norm with the ReLU or activation quantizer that is its
  // output's only reader (one op, one pass, no stored BN output). Off only
  // to check that fused and separate ops agree.
  bool fuse = true;
};

class Model {
 public:
  Model(ModelSpec spec, BuildOptions options);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // PyTorch's default initialization, seeded: conv and linear weights and
  // biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)); batch norm gamma 1, beta 0,
  // running mean 0, running variance 1. Dropout streams are reseeded too.
  void init(uint64_t seed);

  // x (N, C, H, W) -> logits (N, classes). Records on the tape when it records.
  Var& forward(Var& x, Tape& tape);
  // Batch statistics and dropout (true) or running statistics (false).
  void set_training(bool on);
  bool training() const { return training_; }

  std::vector<NamedParam> parameters();
  // Two groups: conv and linear weights with weight_decay, and biases and
  // batch norm parameters without (the paper decays weights only).
  std::vector<ParamGroup> param_groups(float weight_decay);

  // Parameters and running statistics as named tensors.
  void save(SafeTensors& out) const;
  // Loads every tensor the model has; a missing, mis-shaped or unknown tensor
  // is an Error naming it ("<bn>.num_batches_tracked" from PyTorch is ignored).
  // Tensors whose names start with `others_prefix` (non-empty) belong to
  // someone else in the same file (a checkpoint's optimizer state) and are
  // skipped.
  void load(const SafeTensors& in, const std::string& others_prefix = "");

  // The random streams of the dropout layers (in layer order), as text, so a
  // resumed run draws the same masks as an uninterrupted one.
  std::vector<std::string> rng_states() const;
  void set_rng_states(const std::vector<std::string>& states);  // Error on a count mismatch

  const ModelSpec& spec() const { return spec_; }
  const BuildOptions& options() const { return options_; }
  int layer_bits(size_t layer) const;  // weight bits of layer i (32 if none)

  // One forward without gradients that returns copies of the outputs of the
  // given layers (indices into spec().layers), in the order asked. An
  // activation fused into its batch norm returns the fused output (batch
  // norm + activation), a batch norm fused with its activation the same.
  // Uses the current mode (set_training(false) for evaluation statistics).
  std::vector<Tensor> forward_features(Var& x, const std::vector<int>& layers);

 public:
  struct Node;  // one built layer (models/model.cpp)

 private:
  void build_node(Node& n, size_t index);
  void fuse_batchnorm_activations();
  void plan_releases();
  int producer(int layer) const;  // the node whose op computes this layer's output

  // Activations no backward reads are freed as soon as their last reader has
  // run forward (all of them in evaluation): last_reader_[p] is that reader,
  // keep_[p] says a backward (or the caller, for the logits) needs p's output.
  std::vector<int> last_reader_;
  std::vector<Var*> outs_;  // forward's output of every node, reused between calls
  std::vector<bool> keep_;
  ModelSpec spec_;
  BuildOptions options_;
  std::vector<std::unique_ptr<Node>> nodes_;
  bool training_ = true;
};

}  // namespace taper
