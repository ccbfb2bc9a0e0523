// The packed form of a network (docs/packed-format.md): what every layer
// becomes in a packed model file and in the integer engine, and which
// tensors the file holds for it. One function decides it, and the exporter
// (models/export.h), the loader (models/packed_model.h) and the size
// accounting (models/size.h) all call it, so the file, the engine and
// `summary`'s total_bytes cannot disagree.
//
// Values between layers are either a-bit activation codes (u8, value p / P)
// or float32. A layer's role:
//
//   int_layer     quantized conv/linear (wbits < 32) whose input is codes:
//                 an exact int32 accumulator A (quant/int_gemm.h). If it
//                 is folded (below), the thresholds turn A into the next
//                 codes; otherwise its output is float, y_c = float(A) *
//                 acc_scale_c (+ bias_c).
//   float_q_layer quantized conv/linear whose input is float (the image, a
//                 float ReLU, a pooled float): a float conv/linear with the
//                 weights expanded from the codes at load (the training
//                 grid, bit for bit). vgg7's conv1, resnet20's s1b1_conv1
//                 and lenet5's conv2 are such layers.
//   float_layer   full-precision conv/linear, batch norm, ReLU on floats,
//                 add, clamp, average pooling: float32 exactly as the float
//                 engine computes them.
//   folded_bn     a batch norm between a folded int_layer and its qact: it
//                 holds the thresholds (quant/thresholds.h).
//   folded_act    that qact: its output is the thresholds' codes.
//   quantize      a qact on a float value: p = nearbyint(P clamp(x, 0, 1)).
//   same          a layer that keeps its input's kind: max pooling (on
//                 codes: max of codes), flatten, dropout (eval: identity),
//                 ReLU on codes (identity: codes are >= 0).
//
// A quantized conv/linear is folded when its only reader is a batch norm,
// that batch norm's only reader is a qact, abits < 32 and the layer has no
// bias.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/model_spec.h"

namespace taper {

enum class PackedRole { int_layer, float_q_layer, float_layer, folded_bn, folded_act, quantize, same };

const char* packed_role_name(PackedRole role);

// One tensor of the packed file.
struct PackedTensor {
  std::string name;   // "<layer>.weight", "<bn>.thresholds", ...
  std::string dtype;  // "U8", "F32", "I32", "I8"
  Shape shape;
  int64_t bytes() const;
};

struct PackedLayer {
  PackedRole role = PackedRole::float_layer;
  bool codes_out = false;  // the layer's output is activation codes
  int wbits = 32;          // conv/linear
  bool folded = false;     // int_layer: its accumulator goes to thresholds
  std::vector<PackedTensor> tensors;
};

struct PackedPlan {
  std::vector<PackedLayer> layers;  // one per spec layer
  int abits = 32;
  bool binarize_per_tensor = false;
  int64_t tensor_bytes() const;  // sum over every tensor of every layer
};

// The plan of `spec` under per-stage weight bits and activation bits.
PackedPlan plan_packed(const ModelSpec& spec, const std::vector<int>& stage_bits, int abits,
                       bool binarize_per_tensor = false);

// Throws Error unless the integer engine can run this plan: activations
// must be quantized (abits 1..8) wherever a weight is (abits 32 with
// quantized weights is a float model with fake-quantized weights).
void check_packable(const ModelSpec& spec, const PackedPlan& plan);

}  // namespace taper
