// What the AVX-512 register tiles of the integer GEMMs (quant/int_gemm.cpp,
// quant/dot_implicit.cpp) share: the target attribute (the kernels are
// compiled in every build and run only where quant/cpu_features.h says so),
// full unrolling of their compile-time loops, the dot tile's K loop and the
// column tiling.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "quant/dot_weights.h"

#define TAPER_AVX512 __attribute__((target("avx512f,avx512bw,avx512vnni,avx512vpopcntdq")))
// Full unrolling of a tile's loops over its compile-time sizes (rows, column
// vectors, planes, shifts): left to its cost model, GCC unrolls the inner
// loops but not the stores after them, so the accumulator array must live in
// memory and every update in the hot loop is also stored to the stack (19 of
// dot_tile<6, 4>'s 105 hot-loop instructions were such stores; 38
// instructions, none of them stores, with every loop unrolled).
#define TAPER_UNROLL _Pragma("GCC unroll 64")

namespace taper {

// The dot tile's K loop over groups g of 4 rows: acc[i][v] (16 int32
// lanes = 16 columns) += vpdpbusd(the 16 col4 words of vector v, the 4 s8
// weights of tile row i broadcast). cols(g) points at group g's first
// column word (vector v at + 16 v); w4(i, g) is the 32-bit word of tile
// row i's 4 s8 weights of group g.
template <int MB, int NV, typename W4, typename Cols>
TAPER_AVX512 inline void dot_accumulate_w4(__m512i (&acc)[MB][NV], int64_t Kp, const W4& w4, const Cols& cols) {
  TAPER_UNROLL
  for (int i = 0; i < MB; ++i)
    TAPER_UNROLL
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_si512();
  for (int64_t g = 0; g < Kp / 4; ++g) {
    const uint32_t* c = cols(g);
    __m512i x[NV];
    TAPER_UNROLL
    for (int v = 0; v < NV; ++v) x[v] = _mm512_loadu_si512(c + 16 * v);
    TAPER_UNROLL
    for (int i = 0; i < MB; ++i) {
      const __m512i wb = _mm512_set1_epi32(w4(i, g));
      TAPER_UNROLL
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], x[v], wb);
    }
  }
}

// The dot tile's K loop (quant/int_gemm.h, IntKernel::dot): for every group
// g of 4 rows, acc[i][v] (16 int32 lanes = 16 columns) += vpdpbusd(the 16
// col4 words of vector v, the 4 s8 weights of tile row i broadcast).
// cols(g) points at group g's first column word (vector v at + 16 v). The
// weights of tile row i (row m0 + i of w): from the expanded block wt
// (rows Kp apart), or, where wt is null (k = 2, dot_tile_reads_codes), the
// packed byte of the group's 4 codes looked up in dot_lut2 (one byte load
// and one broadcast load per row and group, no vector port;
// quant/dot_weights.h).
template <int MB, int NV, typename Cols>
TAPER_AVX512 inline void dot_accumulate(__m512i (&acc)[MB][NV], const IntGemmWeights& w, const int8_t* wt,
                                        int64_t m0, const Cols& cols) {
  if (wt) return dot_accumulate_w4<MB, NV>(acc, w.Kp, [&](int i, int64_t g) {
      int32_t w4;
      std::memcpy(&w4, wt + i * w.Kp + 4 * g, 4);
      return w4;
    }, cols);
  const int64_t row_bytes = w.Kp / 4;  // 4 codes of 2 bits per byte
  const uint8_t* pk = w.wpk.data() + m0 * row_bytes;
  const int32_t* lut = dot_lut2();
  dot_accumulate_w4<MB, NV>(acc, w.Kp, [&](int i, int64_t g) { return lut[pk[i * row_bytes + g]]; }, cols);
}

// The column tiles of a row block: vecs vectors in tiles of nearly equal
// width, at most NVmax vectors (13 vectors: 4 3 3 3, not 4 4 4 1);
// tile(nv, first vector) for each, left to right.
template <typename Tile>
inline void column_tiles(int64_t vecs, int64_t NVmax, const Tile& tile) {
  const int64_t tiles = (vecs + NVmax - 1) / NVmax;
  for (int64_t t = 0, v = 0; t < tiles; ++t) {
    const int64_t nv = vecs / tiles + (t < vecs % tiles ? 1 : 0);
    tile(nv, v);
    v += nv;
  }
}

}  // namespace taper
