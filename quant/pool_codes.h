// Max pooling on activation codes (the integer engine, models/packed_model.h).
//
//   y[oh, ow] = max { x[oh s - pad + kh, ow s - pad + kw] : 0 <= kh, kw < k, inside the plane }
//
// Codes are unsigned and p -> p / P is increasing, so the max of the codes
// is the code of the max of the values: the float engine's max pooling,
// exactly. Positions outside the plane are skipped (padding never wins:
// every window holds a position inside, and codes are >= 0).
#pragma once

#include <cstdint>

namespace taper {

// Scalar reference: one (H, W) plane -> (OH, OW).
void maxpool_codes_ref(const uint8_t* x, int64_t H, int64_t W, int64_t k, int64_t s, int64_t pad, int64_t OH,
                       int64_t OW, uint8_t* y);

// The same, equal to the reference: the 2x2 stride-2 window without padding
// (vgg7's pools) on AVX-512 when the CPU has it (quant/cpu_features.h), 32
// outputs of a row per step: two rows' max (vpmaxub), then the max of each
// byte pair (a 16-bit shift and vpmaxub) and the low bytes packed
// (vpmovwb); every other window through the reference.
void maxpool_codes(const uint8_t* x, int64_t H, int64_t W, int64_t k, int64_t s, int64_t pad, int64_t OH,
                   int64_t OW, uint8_t* y);

}  // namespace taper
