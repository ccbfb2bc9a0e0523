// The dot kernel's weights (quant/int_gemm.h, IntKernel::dot): resident as
// k-bit codes, expanded to the s8 weights the VNNI tile multiplies with one
// block of rows at a time, into a small per-thread scratch buffer.
//
// Resident: IntGemmWeights::wpk, the (M, Kp) code matrix packed at k bits
// (quant/pack.h's bit order, one stream, no padding per row; Kp = K rounded
// up to 4, the padding codes 0): packed_size(M Kp, k) bytes, the packed
// file's size where K is a multiple of 4 (and a conv's channels per group
// are, docs/packed-format.md "Resident weight memory").
//
// Expanded (the s8 weight of code q, dot_weight):
//   k <= 7:  2q - L            (the odd integer weight, |2q - L| <= 127)
//   k  = 8:  q - 128           (the offset trick: 2q - 255 = 2 (q - 128) + 1)
// A padding code's weight is -L (-128 at k = 8), not 0; its activation is
// always code 0 (col4 padding rows, a conv's padded channels), so it adds
// nothing.
//
// Where, two ways:
// - k = 2, on AVX-512: in the tile. The 4 codes of a group of 4 rows are one
//   packed byte, and dot_lut2[byte] is the 32-bit word of their 4 s8
//   weights that the tile broadcasts (a byte load and a broadcast load per
//   row and group, on the load ports; no scratch).
// - otherwise: every caller of the dot tile (int_gemm, dot_implicit, the
//   portable kernel) walks its rows in blocks (dot_block_rows rows, at most
//   kDotScratchBytes of s8), expands a block once and runs every column
//   tile of the call over it: M Kp bytes per call against M Kp n
//   multiply-adds (about 4 vector instructions per 64 weights on AVX-512
//   VBMI). At vgg7-fmnist's 7x7 layers, where a weight meets 4 vectors of
//   columns per image, that cost 9% of a w2a2 dot conv (docs/benchmarks.md),
//   hence the lookup for k = 2, the bit width the engine runs on dot most.
#pragma once

#include <algorithm>
#include <cstdint>

#include "quant/int_gemm.h"
#include "quant/pack.h"

namespace taper {

// The s8 weight of code q at k bits (above): the one formula every dot path uses.
inline int dot_weight(int q, int k) { return k == 8 ? q - 128 : code_to_int(q, k); }

// Scalar reference: s8 (m1 - m0, Kp) = dot_weight of codes m0 Kp .. m1 Kp - 1 of w.wpk.
void expand_dot_rows_ref(const IntGemmWeights& w, int64_t m0, int64_t m1, int8_t* s8);

// The same, 64 codes per step on AVX-512 VBMI (the bytes of 8 codes into each
// 64-bit lane by vpermb, code i's k bits to byte i by vpmultishiftqb), else
// unpack_codes (quant/pack.h) and the map; equal to the reference exactly.
void expand_dot_rows(const IntGemmWeights& w, int64_t m0, int64_t m1, int8_t* s8);

// k = 2: the 32-bit word of the 4 s8 weights of the 4 codes in packed byte
// b (byte i = dot_weight of code i, bits 2i, 2i + 1), b = 0..255.
const int32_t* dot_lut2();

// Whether the AVX-512 dot tiles read w's packed codes themselves (k = 2:
// one dot_lut2 lookup per row and group of 4 rows, on the load ports, in
// place of the broadcast of 4 expanded weights) instead of an expanded
// block. Measured at vgg7-fmnist's 7x7 layers, where each weight meets
// only 4 vectors of columns per image, the block expansion (about 4 vector
// instructions per 64 weights on the shuffle port) cost 9% of the dot conv
// (docs/benchmarks.md).
inline bool dot_tile_reads_codes(const IntGemmWeights& w) { return w.wbits == 2; }

// The scratch budget of one expanded block, per thread.
constexpr int64_t kDotScratchBytes = 32 * 1024;

// Rows per expanded block: a multiple of tile_rows (at least one tile)
// whose s8 rows fit kDotScratchBytes, split evenly over the M rows.
int64_t dot_block_rows(const IntGemmWeights& w, int64_t tile_rows);

// This thread's scratch buffer, at least `bytes` long (reused, grows only).
int8_t* dot_scratch(int64_t bytes);

// Rows [m0, m1) in blocks of dot_block_rows(w, tile_rows): each block
// [b0, b1) expanded once into this thread's scratch, then body(b0, b1, s8),
// s8 = (b1 - b0, Kp) with row 0 = row b0.
// With tiles_read_codes (the AVX-512 tiles) and dot_tile_reads_codes(w),
// no block is expanded: body(m0, m1, nullptr) once.
template <typename Body>
void for_each_dot_block(const IntGemmWeights& w, int64_t m0, int64_t m1, int64_t tile_rows, bool tiles_read_codes,
                        const Body& body) {
  if (tiles_read_codes && dot_tile_reads_codes(w)) return body(m0, m1, static_cast<const int8_t*>(nullptr));
  const int64_t rb = dot_block_rows(w, tile_rows);
  int8_t* s8 = dot_scratch(std::min(rb, m1 - m0) * w.Kp);
  for (int64_t b0 = m0; b0 < m1; b0 += rb) {
    const int64_t b1 = std::min(m1, b0 + rb);
    expand_dot_rows(w, b0, b1, s8);
    body(b0, b1, static_cast<const int8_t*>(s8));
  }
}

}  // namespace taper
