// ModelSpec — a network as declared in a model JSON file (docs/model-json.md),
// parsed strictly and checked by shape inference before anything is built.
//
// Every layer reads the output of the layer before it unless it names its
// input ("input": "<layer>" or "input" for the network input); an "add" layer
// names its two inputs. That is enough for residual blocks with projection
// shortcuts, or any DAG whose layers are listed in an order that computes
// each input before it is used.
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace taper {

// The layer types a model JSON can declare. The parser maps "type" strings
// to these (layer_type_name maps back, for messages); nothing else in the
// library looks at the strings.
enum class LayerType { conv, linear, batchnorm, relu, qact, clamp, maxpool, avgpool, globalavgpool, flatten, dropout, add };

// The JSON name of a layer type ("conv", "batchnorm", ...).
const char* layer_type_name(LayerType type);

struct LayerSpec {
  std::string name;
  LayerType type = LayerType::relu;
  std::vector<int> inputs;  // indices of producing layers; -1 = the network input

  // conv
  int64_t out_channels = 0;
  int64_t kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t groups = 1;
  // linear
  int64_t out_features = 0;
  bool out_is_classes = false;  // "out_features": "classes" (never widened)
  bool bias = true;             // conv and linear
  int stage = 0;                // quantizable conv/linear: 1..S; 0 = always full precision
  // batchnorm
  float eps = 1e-5f, momentum = 0.1f;
  // clamp
  float lo = 0.0f, hi = 1.0f;
  // dropout
  float p = 0.5f;

  // Filled by shape inference: per-sample input and output shapes (no batch).
  Shape in_shape, out_shape;

  bool has_weights() const { return type == LayerType::conv || type == LayerType::linear; }
  bool quantizable() const { return has_weights() && stage > 0; }
};

struct ModelSpec {
  std::string name;
  std::string source;    // file it came from, for messages
  std::string json_text;  // the file's text, stored in checkpoints
  Shape input;           // (C, H, W)
  int64_t classes = 0;
  std::vector<LayerSpec> layers;
  int num_stages = 0;    // stages are 1..num_stages, each used at least once
};

// Parses and validates model JSON text; `source` names it in messages.
// Runs shape inference. Throws Error naming the file, layer and key.
ModelSpec parse_model_json(const std::string& text, const std::string& source);
ModelSpec load_model_file(const std::string& path);

// The same network with every hidden layer's channel count scaled to
// round(C * width): conv out_channels and linear out_features except the
// output ("classes"). Each count is rounded to the nearest multiple of the
// groups that constrain it (its own and those of grouped convs it feeds),
// at least one multiple. Layers whose outputs meet in an add are scaled
// together (same count); if such a group includes the network input or a
// "classes" output, it keeps its channels. Re-runs shape inference.
ModelSpec apply_width(const ModelSpec& spec, double width);

// Recomputes in_shape/out_shape of every layer; throws Error naming the layer
// when a shape is impossible. The last layer must output (classes).
void infer_shapes(ModelSpec& spec);

}  // namespace taper
