// A tiny CNN for tests that train through the library API: conv -> batch
// norm -> ReLU -> max pool -> linear, on 1x8x8 images, 2 classes.
#pragma once

namespace taper::testing {

inline constexpr const char* kTinyCnn = R"({
  "name": "tiny", "input": [1, 8, 8], "classes": 2,
  "layers": [
    {"name": "conv", "type": "conv", "out_channels": 4, "kernel": 3, "padding": 1, "bias": false},
    {"name": "bn", "type": "batchnorm"},
    {"name": "relu", "type": "relu"},
    {"name": "pool", "type": "maxpool", "kernel": 2},
    {"name": "flatten", "type": "flatten"},
    {"name": "fc", "type": "linear", "out_features": "classes"}
  ]})";

}  // namespace taper::testing
