// Per-stage sensitivity: how much a trained network suffers when only one
// stage's weights are quantized, and the file `taper analyze --sensitivity`
// writes (sensitivity.json) that `--wbits auto:...` reads back.
//
// Measurement (apps/cmd_analyze.cpp): for every stage s and bits b in
// {1, 2, 4, 8}, the network is rebuilt with stage s at b bits and every other
// stage as in the checkpoint, loaded with the checkpoint's float weights (no
// retraining), its batch norm statistics re-estimated (below), and evaluated
// on the run's validation split. The sensitivity of (s, b) is the rise in
// mean cross-entropy over the baseline (the checkpoint's own bits, re-estimated
// the same way): cost[s][b] = loss(s at b) - loss(baseline).
//
// Batch norm re-estimation: quantizing a stage's weights changes the scale
// and mean of its pre-activations (a 1-bit layer's outputs are sums of
// +-alpha, not of the float weights), so the running statistics collected in
// training no longer normalize them; evaluated with the stale statistics, a
// stage looks broken for a reason a deployed model would not have (a
// quantization-aware model learns its statistics with its quantized weights).
// So every batch norm's running mean and variance are replaced by the plain
// average, over a fixed set of training batches, of each batch's mean and
// unbiased variance (what PyTorch does with momentum=None), in training mode
// (dropout layers, if any, are active as in training) without gradients.
//
// Kept scale (--keep-scale): DoReFa's k-bit quantizer maps every output
// channel's weights onto [-1, 1] (its largest weight becomes +-1), so it
// changes a layer's scale as well as its precision, by a factor that has
// nothing to do with k. Where a conv feeds a residual add with no batch norm
// in between, that rescales the branch against its shortcut, which batch
// norm re-estimation cannot undo. With --keep-scale the stage's layers stay
// full precision and their weights are replaced by quantize_keep_scale's
// (below): the same quantized values, rescaled per output channel to the
// layer's own scale, so only the precision changes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/budget.h"
#include "engine/safetensors.h"
#include "models/model.h"

namespace taper {

// `model` must be built from a spec whose batch norms have momentum 1 (each
// batch then overwrites the running statistics, which are averaged here);
// leaves the model in evaluation mode with the averaged statistics.
void reestimate_batchnorm(Model& model, const std::vector<Tensor>& batches);

// The spec with every batch norm's momentum set to 1 (for reestimate_batchnorm).
ModelSpec with_batchnorm_momentum_one(ModelSpec spec);

// The weight quantizer at `bits` (1: binarize per output channel,
// quant/binarize.h; 2..8: quant/weight_quant.h), each row then rescaled by
// its least-squares factor:
//   out_i = alpha_i Q_i,   alpha_i = <W_i, Q_i> / <Q_i, Q_i>   (0 when Q_i = 0)
// w, out (rows, cols); the dot products are summed in double.
void quantize_keep_scale(const float* w, float* out, int64_t rows, int64_t cols, int bits);

// The checkpoint with the weights of stage `stage`'s quantizable layers
// replaced by quantize_keep_scale at `bits` (rows = output channels).
SafeTensors keep_scale_weights(const SafeTensors& checkpoint, const ModelSpec& spec, int stage, int bits);

inline constexpr const char* kSensitivityFormat = "taper-sensitivity-1";

// What sensitivity.json holds that the allocation needs.
struct SensitivityTable {
  std::string source;       // the file
  std::string model;        // model name
  int num_stages = 0;
  std::vector<int> widths;  // the bit widths measured, e.g. {1, 2, 4, 8}
  double baseline_loss = 0.0;
  std::vector<std::vector<double>> loss;  // [stage][width index]: validation loss
};

// Strict reader: Error naming the file and key for anything missing or wrong.
SensitivityTable read_sensitivity(const std::string& path);

// --wbits auto:TARGET@FILE
//   TARGET  a byte budget (digits) or a weight spec (32, k, a-b-c...,
//           progressive:K) whose weight_bytes on the same model are the budget
//   FILE    a sensitivity.json of this model (`taper analyze --sensitivity`)
bool is_auto_wbits(const std::string& wbits);

struct AutoPolicy {
  std::string target;  // TARGET as given
  std::string file;    // FILE
  int64_t budget = 0;  // weight_bytes allowed
  Allocation allocation;
};

// Parses the spec, reads the file, checks it belongs to `spec` (same model
// name and stage count) and solves the allocation on spec (at its width).
// Error when the spec is malformed or no choice fits the budget.
AutoPolicy resolve_auto_wbits(const std::string& wbits, const ModelSpec& spec);

// One line for the log: "auto:...: 8-4-2-1 (N weight bytes <= budget B, summed loss increase X)".
std::string describe(const AutoPolicy& policy);

}  // namespace taper
