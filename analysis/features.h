// Which tensors the separability analysis reads, and how they become one
// vector per image.
//
// For every quantizable layer (a conv or linear with a stage), the feature is
// the output of its activation: follow the layer's only reader through batch
// norm and residual adds until a relu, qact or clamp (conv -> bn -> qact reads
// the qact; a residual block's second conv -> bn -> add -> qact reads the
// block's output). If the chain ends elsewhere (several readers, another
// layer type), the last layer reached is used. Two quantizable layers that
// lead to the same output are listed once, under the first.
//
// Conv features (N, C, H, W) are globally average-pooled to (N, C): the mean
// of each channel over the image, so every layer gives a vector of its
// channel count whatever its resolution. Linear features (N, F) are used as
// they are. The input pixels, when analysed, are flattened, not pooled.
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/model_spec.h"

namespace taper {

struct FeatureLayer {
  std::string name;         // the quantizable layer
  int stage = 0;
  int layer = 0;            // its index in spec.layers
  int output = 0;           // index of the layer whose output is the feature
  std::string output_name;  // that layer's name
  bool pooled = false;      // a (C, H, W) output, averaged over H and W
  int64_t dim = 0;          // feature length per image
};

std::vector<FeatureLayer> feature_layers(const ModelSpec& spec);

// Appends the rows of t — (N, C, H, W) averaged over H, W, or (N, F) as is,
// or flattened when `flatten` is true — to rows (row-major, double).
void append_feature_rows(const Tensor& t, bool flatten, std::vector<double>& rows);

}  // namespace taper
