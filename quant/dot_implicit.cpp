#include "quant/dot_implicit.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/error.h"
#include "engine/parallel.h"
#include "quant/avx512_tile.h"
#include "quant/cpu_features.h"
#include "quant/dot_weights.h"


namespace taper {

void dot_implicit_ref(const IntGemmWeights& w, const uint32_t* words, const int64_t* off, int64_t n,
                      int64_t row_len, int64_t row_keep, int32_t* C, int64_t ldc) {
  const int64_t G = w.Kp / 4;
  for (int64_t m = 0; m < w.M; ++m)
    for (int64_t j = 0; j < n; ++j) {
      if (j % row_len >= row_keep) continue;  // a widened column: dropped
      int32_t a = 0;
      for (int64_t g = 0; g < G; ++g) {
        const uint32_t word = words[off[g] + j];
        for (int i = 0; i < 4; ++i) {
          const int q = code_at(w.wpk.data(), m * w.Kp + 4 * g + i, w.wbits);  // w8[m][4 g + i]
          a += dot_weight(q, w.wbits) * int32_t((word >> (8 * i)) & 255);
        }
      }
      C[m * ldc + (j / row_len) * row_keep + j % row_len] = a;
    }
}

namespace {

// Which lanes of each 16-column vector are kept, and where the first kept
// one goes: vector v holds columns 16 v .. 16 v + 15; the kept ones map to
// consecutive outputs (the dropped ones are exactly the gaps), from first[v].
struct KeptLanes {
  int64_t n = -1, row_len = 0, row_keep = 0;  // what they were computed for
  std::vector<uint16_t> mask;
  std::vector<int64_t> first;
};

// Computed again only when the columns change (a conv calls this once per
// image, with the same columns for every image and often for every layer
// of a stage).
void kept_lanes(int64_t n, int64_t row_len, int64_t row_keep, KeptLanes& k) {
  if (k.n == n && k.row_len == row_len && k.row_keep == row_keep) return;
  k.n = n, k.row_len = row_len, k.row_keep = row_keep;
  const int64_t vecs = (n + 15) / 16;
  k.mask.assign(vecs, 0);
  k.first.assign(vecs, 0);
  int64_t row = 0, col = 0;  // of column j
  for (int64_t j = 0; j < vecs * 16; ++j) {
    if (j < n && col < row_keep) {
      const int64_t v = j / 16;
      if (!k.mask[v]) k.first[v] = row * row_keep + col;
      k.mask[v] |= uint16_t(1u << (j % 16));
    }
    if (++col == row_len) col = 0, ++row;
  }
}

// MB rows x NV vectors of 16 columns, as dot_tile in quant/int_gemm.cpp, the
// columns of group g loaded from words + off[g]; the kept lanes compressed
// and stored.
// wt: the expanded s8 weights of row m0 (rows Kp apart), or null where the
// tile reads the packed codes (quant/dot_weights.h, dot_tile_reads_codes).
template <int MB, int NV>
TAPER_AVX512 void dot_implicit_tile(const IntGemmWeights& w, const int8_t* wt, const uint32_t* words,
                                    const int64_t* off, const KeptLanes& kl, int32_t* C, int64_t ldc, int64_t m0,
                                    int64_t v0) {
  __m512i acc[MB][NV];
  const uint32_t* base = words + 16 * v0;
  dot_accumulate<MB, NV>(acc, w, wt, m0, [&](int64_t g) { return base + off[g]; });
  // The accumulators go to the stack once, then out: compressing straight
  // from acc made GCC keep acc in memory through the K loop (a store per
  // vpdpbusd, as quant/int_gemm.cpp's TAPER_UNROLL describes).
  alignas(64) int32_t out[MB][NV][16];
  TAPER_UNROLL
  for (int i = 0; i < MB; ++i)
    TAPER_UNROLL
    for (int v = 0; v < NV; ++v) _mm512_store_si512(out[i][v], acc[i][v]);
  for (int v = 0; v < NV; ++v) {
    const __mmask16 keep = kl.mask[v0 + v];
    const __mmask16 kept = __mmask16((1u << __builtin_popcount(keep)) - 1);
    const int64_t at = kl.first[v0 + v];
    for (int i = 0; i < MB; ++i)
      _mm512_mask_storeu_epi32(C + (m0 + i) * ldc + at, kept,
                               _mm512_maskz_compress_epi32(keep, _mm512_load_si512(out[i][v])));
  }
}

using TileFn = void (*)(const IntGemmWeights&, const int8_t*, const uint32_t*, const int64_t*, const KeptLanes&,
                        int32_t*, int64_t, int64_t, int64_t);
constexpr int kMB = 6, kNV = 4;  // 24 accumulators, as dot_tile
#define TAPER_ROW(MB) {dot_implicit_tile<MB, 1>, dot_implicit_tile<MB, 2>, dot_implicit_tile<MB, 3>, dot_implicit_tile<MB, 4>}
const TileFn kTiles[kMB][kNV] = {TAPER_ROW(1), TAPER_ROW(2), TAPER_ROW(3), TAPER_ROW(4), TAPER_ROW(5), TAPER_ROW(6)};
#undef TAPER_ROW

// Rows [m0, m1) in blocks of expanded weights (quant/dot_weights.h), each
// expanded once (at k = 2 the tiles read the codes, no blocks): column tiles of nearly equal width (outer), row tiles
// (inner).
void implicit_rows(const IntGemmWeights& w, const uint32_t* words, const int64_t* off, const KeptLanes& kl,
                   int32_t* C, int64_t ldc, int64_t m0, int64_t m1) {
  for_each_dot_block(w, m0, m1, kMB, true, [&](int64_t b0, int64_t b1, const int8_t* s8) {
    column_tiles(int64_t(kl.mask.size()), kNV, [&](int64_t nv, int64_t v) {
      for (int64_t m = b0; m < b1; m += kMB) {
        const int64_t mb = std::min<int64_t>(kMB, b1 - m);
        kTiles[mb - 1][nv - 1](w, s8 ? s8 + (m - b0) * w.Kp : nullptr, words, off, kl, C, ldc, m, v);
      }
    });
  });
}

}  // namespace

void dot_implicit(const IntGemmWeights& w, const uint32_t* words, const int64_t* off, int64_t n, int64_t row_len,
                  int64_t row_keep, int32_t* C, int64_t ldc) {
  check(w.kernel == IntKernel::dot && w.wbits <= 7, "dot_implicit: needs dot weights of at most 7 bits, got ",
        int_kernel_label(w.kernel), " at ", w.wbits, " bits");
  check(row_len >= 1 && row_keep >= 1 && row_keep <= row_len && n >= 0, "dot_implicit: bad columns: n ", n,
        " row_len ", row_len, " row_keep ", row_keep);
  if (!use_avx512_kernels()) return dot_implicit_ref(w, words, off, n, row_len, row_keep, C, ldc);
  thread_local KeptLanes kl;
  kept_lanes(n, row_len, row_keep, kl);
  const double work = double(w.M) * double(w.Kp) * double(kl.mask.size() * 16);
  if (work >= 4e6 && num_threads() > 1 && !in_parallel()) {  // as int_gemm: row blocks over the threads
    const int64_t blocks = (w.M + kMB - 1) / kMB;
    const KeptLanes& shared = kl;  // the calling thread's, read by every part
    parallel_for(blocks, true, [&](int64_t b) {
      implicit_rows(w, words, off, shared, C, ldc, b * kMB, std::min(w.M, (b + 1) * kMB));
    });
    return;
  }
  implicit_rows(w, words, off, kl, C, ldc, 0, w.M);
}

}  // namespace taper
