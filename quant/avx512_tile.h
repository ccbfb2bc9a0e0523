// What the AVX-512 register tiles of the integer GEMMs (quant/int_gemm.cpp,
// quant/dot_implicit.cpp) share: the target attribute (the kernels are
// compiled in every build and run only where quant/cpu_features.h says so),
// full unrolling of their compile-time loops, and the dot tile's K loop.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#define TAPER_AVX512 __attribute__((target("avx512f,avx512bw,avx512vnni,avx512vpopcntdq")))
// Full unrolling of a tile's loops over its compile-time sizes (rows, column
// vectors, planes, shifts): left to its cost model, GCC unrolls the inner
// loops but not the stores after them, so the accumulator array must live in
// memory and every update in the hot loop is also stored to the stack (19 of
// dot_tile<6, 4>'s 105 hot-loop instructions were such stores; 38
// instructions, none of them stores, with every loop unrolled).
#define TAPER_UNROLL _Pragma("GCC unroll 64")

namespace taper {

// The dot tile's K loop (quant/int_gemm.h, IntKernel::dot): for every group
// g of 4 rows, acc[i][v] (16 int32 lanes = 16 columns) += vpdpbusd(the 16
// col4 words of vector v, the 4 s8 weights of tile row i broadcast).
// cols(g) points at group g's first column word (vector v at + 16 v); wm at
// tile row 0's weights, rows Kp apart.
template <int MB, int NV, typename Cols>
TAPER_AVX512 inline void dot_accumulate(__m512i (&acc)[MB][NV], const int8_t* wm, int64_t Kp, const Cols& cols) {
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
      int32_t w4;
      std::memcpy(&w4, wm + i * Kp + 4 * g, 4);
      const __m512i wb = _mm512_set1_epi32(w4);
      TAPER_UNROLL
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], x[v], wb);
    }
  }
}

}  // namespace taper
