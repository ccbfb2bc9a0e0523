// Integer weight codes: the training grid <-> codes, and codes <-> the
// packed U8 byte stream of a packed model file (docs/packed-format.md).
//
// Codes. A k-bit weight (1 <= k <= 8) is stored as its code q:
//   k >= 2:  Wq = 2 (q / L) - 1 = (2q - L) / L,  q in 0..L,  L = 2^k - 1
//   k  = 1:  Wb = s (2q - 1),                     q in {0, 1}  (sign(0) = +1: q = 1)
// code_to_grid() is that formula, written once; in float32 it gives the
// training grid's bits exactly (quant/weight_quant.cpp computes
// 2 * (round(L u) / L) - 1, quant/binarize.cpp s * (+-1)). The odd integer
// 2q - L (k = 1: 2q - 1) is what the integer kernels multiply with.
//
// Logical order: a conv weight's codes in PyTorch's layout
// (OC, IC/groups, KH, KW), a linear weight's (OUT, IN), row-major — code i
// is the i-th weight of that flattening.
//
// Bit order: code i occupies bits i*k .. i*k+k-1 of the stream, least
// significant bit first; bit b of the stream is bit (b % 8) of byte b / 8.
// So with k = 2 byte 0 holds codes 0..3 as q0 | q1 << 2 | q2 << 4 | q3 << 6;
// with k = 3 code 2 straddles bytes 0 and 1 (bits 6..8). The stream is
// exactly packed_size(n, k) = ceil(n k / 8) bytes, no padding per row; the
// unused high bits of the last byte are zero.
#pragma once

#include <cstdint>

namespace taper {

// L = 2^k - 1, the largest code. Throws Error unless 1 <= k <= 8.
int code_max(int k);

// ceil(n * k / 8): the bytes of n codes packed at k bits.
int64_t packed_size(int64_t n, int k);

// The training-grid value of code q (scale s used only for k = 1).
inline float code_to_grid(int q, int k, float s = 1.0f) {
  if (k == 1) return s * (q ? 1.0f : -1.0f);
  const float L = static_cast<float>((1 << k) - 1);
  return 2.0f * (static_cast<float>(q) / L) - 1.0f;
}

// The odd integer weight 2q - L (k = 1: 2q - 1) of code q.
inline int code_to_int(int q, int k) { return 2 * q - ((1 << k) - 1); }

// Code i of a packed stream (the bit order above: bits i*k .. i*k+k-1, least
// significant first).
inline int code_at(const uint8_t* packed, int64_t i, int k) {
  int q = 0;
  for (int j = 0; j < k; ++j) {
    const int64_t b = i * k + j;
    q |= ((packed[b / 8] >> (b % 8)) & 1) << j;
  }
  return q;
}

// Codes of n quantized weights (the output of the weight quantizer: grid
// values, with k = 1 the binarized s_i (+-1) of a row whose scale is s):
//   k >= 2: q = nearbyint((w + 1) L / 2), and w must be code_to_grid(q)
//           within 1e-5 (a float weight that is not on the grid is an error);
//   k  = 1: q = 1 if w >= 0 else 0 (the sign; s is not needed).
// Throws Error naming `what` and the index of the first weight off the grid.
void grid_to_codes(const float* w, int64_t n, int k, uint8_t* codes, const char* what);

// Scalar reference: codes (n, each < 2^k) -> packed (packed_size(n, k) bytes).
void pack_codes_ref(const uint8_t* codes, int64_t n, int k, uint8_t* packed);
// Scalar reference: packed -> codes (n).
void unpack_codes_ref(const uint8_t* packed, int64_t n, int k, uint8_t* codes);

// Fast versions (8 codes = k bytes at a time), equal to the references.
// pack_codes throws Error if a code does not fit in k bits.
void pack_codes(const uint8_t* codes, int64_t n, int k, uint8_t* packed);
void unpack_codes(const uint8_t* packed, int64_t n, int k, uint8_t* codes);

}  // namespace taper
