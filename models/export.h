// Packed model files (docs/packed-format.md): a trained network at its
// bits, as a safetensors file that holds no float copy of a quantized
// weight.
//
//   tensors   what models/packed_plan.h lists for each layer: U8 packed
//             weight codes (quant/pack.h), F32 binarizer scales of 1-bit
//             layers, I32 thresholds + I8 directions (quant/thresholds.h) where
//             a batch norm and a qact follow a quantized layer on codes, F32
//             batch norms (mean, scale, shift), biases and full-precision
//             layers
//   metadata  "format" "taper-packed", "format_version" "1", "model_json",
//             "model_name", "width", "wbits", "stage_bits", "abits",
//             "classes", "binarize_per_tensor", "normalize_mean",
//             "normalize_std", "layers" (a JSON list: name, type, role,
//             wbits, weight_shape, tensors) and whatever the caller adds
//             ("source", "data")
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "models/model.h"

namespace taper {

inline constexpr const char* kPackedFormat = "taper-packed";
inline constexpr int kPackedFormatVersion = 1;

// True when the file's metadata says it is a packed model (any version).
bool is_packed_file(const SafeTensors& st);

// The packed file of `model` (its current weights and running statistics).
// wbits is the policy as the user wrote it ("progressive:8"), width the
// multiplier the model's spec was built with (its json_text is at width 1);
// mean and std the input normalization (per channel; empty: none).
// Throws Error when the integer engine could not run the result
// (check_packable), naming the layer.
SafeTensors export_packed(const Model& model, const std::string& wbits, double width,
                          const std::vector<double>& mean, const std::vector<double>& std,
                          const std::map<std::string, std::string>& extra = {});

}  // namespace taper
