// Model size accounting (mission.md, "The equal-size comparison").
//
//   params(layer)          conv: OC * IC/groups * KH * KW; linear: OUT * IN
//   bytes at b bits        ceil(params * b / 8)  (packed, no padding per row)
//   weight_bytes           every conv and linear weight at its bits,
//                          full-precision layers at 32 — the model size of
//                          the equal-size study (biases and BN left out)
//   total_bytes            the bytes of every tensor of the packed model file
//                          (`taper export`, docs/packed-format.md) for these
//                          weight and activation bits, exactly: packed codes,
//                          folded thresholds, binarizer scales that do not
//                          fold, biases, float batch norms (mean, scale,
//                          shift) and full-precision layers in float32
//                          (models/packed_plan.h decides which is which); the
//                          file adds only its header
//   fp32_bytes             the same network with every weight at 32 bits
//                          (biases included, each batch norm as 3 floats
//                          per channel)
//   avg_weight_bits        sum(params * bits) / sum(params) over the
//                          quantizable (staged) layers
//
// tests/test_packed_size.cpp checks total_bytes against exported files.
#pragma once

#include <string>
#include <vector>

#include "models/model_spec.h"

namespace taper {

struct LayerSize {
  std::string name, type;
  int stage = 0;            // 0: not quantizable
  int64_t params = 0;       // weights (conv/linear) or gamma+beta (batchnorm)
  int64_t bias_params = 0;  // conv/linear bias
  int wbits = 32;           // bits of `params`
  int64_t bytes = 0;        // what this layer costs deployed (sums to total_bytes)
};

struct SizeReport {
  std::vector<LayerSize> layers;  // every layer, forward order
  int64_t quantized_params = 0;
  double avg_weight_bits = 0.0;   // 0 when no layer is quantizable
  int64_t quantized_weight_bytes = 0;
  int64_t weight_bytes = 0;
  int64_t total_bytes = 0;
  int64_t fp32_bytes = 0;
};

// The weight bits of one layer under per-stage bits (32 outside any stage).
int layer_wbits(const LayerSpec& layer, const std::vector<int>& stage_bits);
int64_t weight_params(const LayerSpec& layer);  // 0 for layers without weights
int64_t packed_bytes(int64_t params, int bits);

SizeReport size_report(const ModelSpec& spec, const std::vector<int>& stage_bits, int abits = 32,
                       bool binarize_per_tensor = false);

// "At the size of": the largest width multiplier W (on a 0.001 grid, up to
// 64) whose weight_bytes under stage_bits do not exceed target_bytes.
// Throws Error when even the smallest width is too big.
double match_width(const ModelSpec& spec, const std::vector<int>& stage_bits, int64_t target_bytes);

}  // namespace taper
