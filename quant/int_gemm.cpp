#include "quant/int_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>
#include <cstring>

#include "engine/error.h"
#include "engine/parallel.h"
#include "quant/avx512_tile.h"
#include "quant/cpu_features.h"
#include "quant/dot_weights.h"
#include "quant/pack.h"

// (TAPER_AVX512, TAPER_UNROLL: quant/avx512_tile.h.) GCC's partial redundancy elimination, in the bitplane tiles, keeps
// values across the K loop's iterations that push the accumulators out of
// the registers (bitplane_tile_kba32<1, 2, 8>: 80 hot-loop instructions with
// it, 63 without); the dot tile needs it (its accumulators stay in registers
// only with it).
#if defined(__GNUC__) && !defined(__clang__)
#define TAPER_NO_PRE __attribute__((optimize("no-tree-pre")))
#else
#define TAPER_NO_PRE
#endif

namespace taper {

IntKernel preferred_int_kernel(int wbits, int abits, int64_t K) {
  // Per 512 products the bit planes cost wbits * abits (AND, POPCNT, add)
  // triples on two vector ports, vpdpbusd 8 instructions on one port; at
  // small K the dot tile's fixed costs weigh more (int_gemm.h).
  const int pairs = wbits * abits;
  return pairs <= 2 || (pairs <= 4 && K < 256) ? IntKernel::bitplane : IntKernel::dot;
}

const char* int_kernel_label(IntKernel k) { return k == IntKernel::dot ? "dot" : "bitplane"; }

namespace {

// Weight bit planes in words of Word (the wq layout of int_gemm.h):
// dst[weight_word(w, m, b, r / bits)] bit (r % bits) = bit b of q[m][r],
// bits = 8 sizeof(Word).
template <typename Word>
void fill_weight_planes(const IntGemmWeights& w, const uint8_t* codes, Word* dst) {
  constexpr int bits = 8 * sizeof(Word);
  for (int64_t m = 0; m < w.M; ++m)
    for (int i = 0; i < w.wbits; ++i)
      for (int64_t r = 0; r < w.K; ++r)
        dst[weight_word(w, m, i, r / bits)] |= Word((codes[m * w.K + r] >> i) & 1) << (r % bits);
}

// Column bit planes in words of Word (the colq layout of int_gemm.h).
template <typename Word>
void fill_col_planes(const IntGemmWeights& w, const uint8_t* p, int64_t rs, int64_t js, int64_t n, Word* colq,
                     int64_t ldn) {
  constexpr int bits = 8 * sizeof(Word);
  for (int64_t r = 0; r < w.K; ++r)
    for (int l = 0; l < w.abits; ++l)
      for (int64_t j = 0; j < n; ++j)
        colq[((r / bits) * w.abits + l) * ldn + j] |= Word((p[r * rs + j * js] >> l) & 1) << (r % bits);
}

}  // namespace

IntGemmWeights prepare_int_gemm(const uint8_t* codes, int64_t M, int64_t K, int wbits, int abits,
                                IntKernel kernel) {
  const int L = code_max(wbits), P = code_max(abits);
  check(M >= 1 && K >= 1, "int_gemm: weight shape (", M, ", ", K, ") must be positive");
  check(2.0 * double(K) * L * P < 2147483647.0, "int_gemm: K = ", K, " at ", wbits, "-bit weights and ", abits,
        "-bit activations could overflow the int32 accumulator (2 K L P must be < 2^31)");
  IntGemmWeights w;
  w.kernel = kernel;
  w.wbits = wbits, w.abits = abits, w.M = M, w.K = K;
  for (int64_t i = 0; i < M * K; ++i)
    check(codes[i] <= L, "int_gemm: weight code ", i, " = ", int(codes[i]), " does not fit in ", wbits, " bits");
  if (kernel == IntKernel::dot) {
    // The codes, rows padded to Kp with code 0, packed at k bits: what stays
    // resident (quant/dot_weights.h expands them per block of rows).
    w.Kp = (K + 3) / 4 * 4;
    std::vector<uint8_t> padded(M * w.Kp, 0);
    for (int64_t m = 0; m < M; ++m) std::memcpy(&padded[m * w.Kp], codes + m * K, K);
    w.wpk.assign(packed_size(M * w.Kp, wbits), 0);
    pack_codes(padded.data(), M * w.Kp, wbits, w.wpk.data());
  } else {
    w.word = bitplane_word_bits(wbits, abits, K);
    w.KW = (K + w.word - 1) / w.word;
    w.tile_rows = bitplane_tile_rows(wbits, abits, w.word);
    const int64_t words = M * wbits * w.KW;
    w.wq.assign(w.word == 64 ? words : (words + 1) / 2, 0);
    if (w.word == 64) fill_weight_planes(w, codes, w.wq.data());
    else fill_weight_planes(w, codes, reinterpret_cast<uint32_t*>(w.wq.data()));
  }
  return w;
}

int64_t int_gemm_col_bytes(const IntGemmWeights& w, int64_t ldn) {
  return w.kernel == IntKernel::dot ? w.Kp * ldn : (w.word / 8) * w.KW * w.abits * ldn;
}

void pack_int_gemm_cols(const IntGemmWeights& w, const uint8_t* p, int64_t rs, int64_t js, int64_t n,
                        uint8_t* col, int64_t ldn) {
  std::memset(col, 0, int_gemm_col_bytes(w, ldn));
  if (w.kernel == IntKernel::dot) {
    for (int64_t r = 0; r < w.K; ++r)
      for (int64_t j = 0; j < n; ++j) col[((r / 4) * ldn + j) * 4 + r % 4] = p[r * rs + j * js];
    return;
  }
  if (w.word == 64)
    fill_col_planes(w, p, rs, js, n, reinterpret_cast<uint64_t*>(col), ldn);
  else
    fill_col_planes(w, p, rs, js, n, reinterpret_cast<uint32_t*>(col), ldn);
}

void int_gemm_ref(const uint8_t* q, int wbits, int64_t M, int64_t K, const uint8_t* p, int64_t n,
                  int32_t* C, int64_t ldc) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < n; ++j) {
      int32_t a = 0;
      for (int64_t r = 0; r < K; ++r) a += code_to_int(q[m * K + r], wbits) * int32_t(p[r * n + j]);
      C[m * ldc + j] = a;
    }
}

namespace {

// The AVX-512 tiles' rows (dot and the generic bitplane tile), and the dot
// tile's vectors of 16 columns, the bitplane tile's of 8: 24 accumulators.
constexpr int kMB = 6, kDotNV = 4, kBitNV = 4;

// ---- column sums sum_r p_rj (needed by k = 8 dot and by bitplane) ----

void col_sums(const IntGemmWeights& w, const uint8_t* col, int64_t ldn, int32_t* s) {
  std::fill(s, s + ldn, 0);
  if (w.kernel == IntKernel::dot) {
    for (int64_t g = 0; g < w.Kp / 4; ++g) {
      const uint8_t* c = col + g * ldn * 4;
      for (int64_t j = 0; j < ldn; ++j) s[j] += int32_t(c[4 * j]) + c[4 * j + 1] + c[4 * j + 2] + c[4 * j + 3];
    }
    return;
  }
  if (w.word == 32) {
    const uint32_t* colq = reinterpret_cast<const uint32_t*>(col);
    for (int64_t c = 0; c < w.KW; ++c)
      for (int l = 0; l < w.abits; ++l) {
        const uint32_t* x = colq + (c * w.abits + l) * ldn;
        for (int64_t j = 0; j < ldn; ++j) s[j] += __builtin_popcount(x[j]) << l;
      }
    return;
  }
  const uint64_t* colq = reinterpret_cast<const uint64_t*>(col);
  for (int64_t c = 0; c < w.KW; ++c)
    for (int l = 0; l < w.abits; ++l) {
      const uint64_t* x = colq + (c * w.abits + l) * ldn;
      for (int64_t j = 0; j < ldn; ++j) s[j] += __builtin_popcountll(x[j]) << l;
    }
}

// The same on AVX-512: dot, vpdpbusd of the col4 words with bytes of 1 (the
// 4 codes of a word summed into its int32 lane, 16 columns per vector);
// bitplane, VPOPCNTQ of 8 columns' words, shifted by the plane.
TAPER_AVX512 void col_sums_avx512(const IntGemmWeights& w, const uint8_t* col, int64_t ldn, int32_t* s) {
  if (w.kernel == IntKernel::dot) {
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t j = 0; j < ldn; j += 16) {
      __m512i acc = _mm512_setzero_si512();
      for (int64_t g = 0; g < w.Kp / 4; ++g)
        acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(col + (g * ldn + j) * 4), ones);
      _mm512_storeu_si512(s + j, acc);
    }
    return;
  }
  if (w.word == 32) {
    const uint32_t* colq = reinterpret_cast<const uint32_t*>(col);
    for (int64_t j = 0; j < ldn; j += 16) {
      __m512i acc = _mm512_setzero_si512();
      for (int64_t c = 0; c < w.KW; ++c)
        for (int l = 0; l < w.abits; ++l) {
          const __m512i x = _mm512_loadu_si512(colq + (c * w.abits + l) * ldn + j);
          acc = _mm512_add_epi32(acc, _mm512_slli_epi32(_mm512_popcnt_epi32(x), l));
        }
      _mm512_storeu_si512(s + j, acc);
    }
    return;
  }
  const uint64_t* colq = reinterpret_cast<const uint64_t*>(col);
  for (int64_t j = 0; j < ldn; j += 8) {
    __m512i acc = _mm512_setzero_si512();
    for (int64_t c = 0; c < w.KW; ++c)
      for (int l = 0; l < w.abits; ++l) {
        const __m512i x = _mm512_loadu_si512(colq + (c * w.abits + l) * ldn + j);
        acc = _mm512_add_epi64(acc, _mm512_slli_epi64(_mm512_popcnt_epi64(x), l));
      }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(s + j), _mm512_cvtepi64_epi32(acc));
  }
}

// ---- portable kernels: rows [m0, m1) ----

// The rows of one expanded block of dot weights (quant/dot_weights.h).
void dot_portable(const IntGemmWeights& w, const uint8_t* col, int64_t ldn, int64_t n, const int32_t* colsum,
                  int32_t* C, int64_t ldc, int64_t m0, int64_t m1) {
  std::vector<int32_t> acc(ldn);
  for_each_dot_block(w, m0, m1, kMB, false, [&](int64_t b0, int64_t b1, const int8_t* s8) {
    for (int64_t m = b0; m < b1; ++m) {
      std::fill(acc.begin(), acc.end(), 0);
      const int8_t* wm = s8 + (m - b0) * w.Kp;
      for (int64_t g = 0; g < w.Kp / 4; ++g) {
        const int32_t w0 = wm[4 * g], w1 = wm[4 * g + 1], w2 = wm[4 * g + 2], w3 = wm[4 * g + 3];
        const uint8_t* c = col + g * ldn * 4;
        for (int64_t j = 0; j < ldn; ++j)
          acc[j] += w0 * c[4 * j] + w1 * c[4 * j + 1] + w2 * c[4 * j + 2] + w3 * c[4 * j + 3];
      }
      int32_t* cm = C + m * ldc;
      if (w.wbits == 8)
        for (int64_t j = 0; j < n; ++j) cm[j] = 2 * acc[j] + colsum[j];
      else
        for (int64_t j = 0; j < n; ++j) cm[j] = acc[j];
    }
  });
}

template <typename Word>
void bitplane_portable_words(const IntGemmWeights& w, const uint8_t* col, int64_t ldn, int64_t n,
                             const int32_t* colsum, int32_t* C, int64_t ldc, int64_t m0, int64_t m1) {
  const Word* colq = reinterpret_cast<const Word*>(col);
  const Word* wq = reinterpret_cast<const Word*>(w.wq.data());
  std::vector<int32_t> acc(ldn);
  for (int64_t m = m0; m < m1; ++m) {
    std::fill(acc.begin(), acc.end(), 0);
    for (int i = 0; i < w.wbits; ++i) {
      for (int64_t c = 0; c < w.KW; ++c)
        for (int l = 0; l < w.abits; ++l) {
          const Word wb = wq[weight_word(w, m, i, c)];
          const Word* x = colq + (c * w.abits + l) * ldn;
          for (int64_t j = 0; j < ldn; ++j) acc[j] += __builtin_popcountll(uint64_t(wb & x[j])) << (i + l);
        }
    }
    int32_t* cm = C + m * ldc;
    for (int64_t j = 0; j < n; ++j) cm[j] = 2 * acc[j] - colsum[j];
  }
}

void bitplane_portable(const IntGemmWeights& w, const uint8_t* col, int64_t ldn, int64_t n,
                       const int32_t* colsum, int32_t* C, int64_t ldc, int64_t m0, int64_t m1) {
  if (w.word == 32)
    bitplane_portable_words<uint32_t>(w, col, ldn, n, colsum, C, ldc, m0, m1);
  else
    bitplane_portable_words<uint64_t>(w, col, ldn, n, colsum, C, ldc, m0, m1);
}

// ---- AVX-512 kernels: an MB x (16 NV) tile of C (dot) / MB x (8 NV) (bitplane) ----

inline __mmask16 TAPER_AVX512 tail_mask16(int64_t left) {
  return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
}

// dot: acc[i][v] (16 int32 lanes = 16 pixels) += vpdpbusd(col4 pixels, 4 weights of row i broadcast);
// wt: the expanded s8 weights of row m0 (rows Kp apart), or null where the
// tile reads the packed codes (quant/dot_weights.h, dot_tile_reads_codes).
template <int MB, int NV>
TAPER_AVX512 void dot_tile(const IntGemmWeights& w, const int8_t* wt, const uint8_t* col, int64_t ldn, int64_t n,
                           const int32_t* colsum, int32_t* C, int64_t ldc, int64_t m0, int64_t j0) {
  __m512i acc[MB][NV];
  const uint32_t* words = reinterpret_cast<const uint32_t*>(col);  // col4: one word per (group, column)
  dot_accumulate<MB, NV>(acc, w, wt, m0, [&](int64_t g) { return words + g * ldn + j0; });
  TAPER_UNROLL
  for (int v = 0; v < NV; ++v) {
    const __mmask16 k = tail_mask16(n - j0 - 16 * v);
    const __m512i s = w.wbits == 8 ? _mm512_loadu_si512(colsum + j0 + 16 * v) : _mm512_setzero_si512();
    TAPER_UNROLL
    for (int i = 0; i < MB; ++i) {
      __m512i a = acc[i][v];
      if (w.wbits == 8) a = _mm512_add_epi32(_mm512_add_epi32(a, a), s);
      _mm512_mask_storeu_epi32(C + (m0 + i) * ldc + j0 + 16 * v, k, a);
    }
  }
}

// bitplane: per weight plane b and activation plane l, acc[i][v] (8 int64
// lanes = 8 pixels) += popcount(Q_b of row i & P_l), then tile += acc << (b + l);
// at the end A = 2 tile - colsum (colsum = L sum p here).
template <int MB, int NV>
TAPER_AVX512 void bitplane_tile(const IntGemmWeights& w, const uint8_t* col, int64_t ldn, int64_t n,
                                const int32_t* colsum, int32_t* C, int64_t ldc, int64_t m0, int64_t j0) {
  const uint64_t* colq = reinterpret_cast<const uint64_t*>(col);
  const int a = w.abits, kb = w.wbits;
  __m512i tile[MB][NV];
  TAPER_UNROLL
  for (int i = 0; i < MB; ++i)
    TAPER_UNROLL
    for (int v = 0; v < NV; ++v) tile[i][v] = _mm512_setzero_si512();
  for (int pair = 0; pair < kb * a; ++pair) {
    const int b = pair / a, l = pair % a;
    __m512i acc[MB][NV];
    TAPER_UNROLL
    for (int i = 0; i < MB; ++i)
      TAPER_UNROLL
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_si512();
    for (int64_t c = 0; c < w.KW; ++c) {
      const uint64_t* x0 = colq + (c * a + l) * ldn + j0;
      __m512i x[NV];
      TAPER_UNROLL
      for (int v = 0; v < NV; ++v) x[v] = _mm512_loadu_si512(x0 + 8 * v);
      TAPER_UNROLL
      for (int i = 0; i < MB; ++i) {
        const __m512i wb = _mm512_set1_epi64(static_cast<long long>(w.wq[weight_word(w, m0 + i, b, c)]));
        TAPER_UNROLL
        for (int v = 0; v < NV; ++v)
          acc[i][v] = _mm512_add_epi64(acc[i][v], _mm512_popcnt_epi64(_mm512_and_si512(wb, x[v])));
      }
    }
    TAPER_UNROLL
    for (int i = 0; i < MB; ++i)
      TAPER_UNROLL
      for (int v = 0; v < NV; ++v) tile[i][v] = _mm512_add_epi64(tile[i][v], _mm512_slli_epi64(acc[i][v], b + l));
  }
  TAPER_UNROLL
  for (int v = 0; v < NV; ++v) {
    const int64_t left = n - j0 - 8 * v;  // no early exit: it would keep the loop (and acc) from unrolling
    const __mmask8 k = left >= 8 ? __mmask8(0xFF) : left <= 0 ? __mmask8(0) : __mmask8((1u << left) - 1);
    const __m512i s = _mm512_maskz_cvtepi32_epi64(__mmask8(0xFF), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(colsum + j0 + 8 * v)));
    TAPER_UNROLL
    for (int i = 0; i < MB; ++i) {
      const __m512i A = _mm512_sub_epi64(_mm512_add_epi64(tile[i][v], tile[i][v]), s);
      _mm512_mask_cvtepi64_storeu_epi32(C + (m0 + i) * ldc + j0 + 8 * v, k, A);
    }
  }
}

// bitplane, specialized for KB weight planes x A activation planes (the
// pairs preferred_int_kernel sends here, KB * A <= 4): the plane pairs
// (b, l) of one shift s = b + l share an accumulator, so the LV = KB + A - 1
// accumulators of each (row, vector) stay in registers over the whole K loop
// (the generic tile above keeps one per pair and adds it, shifted, into a
// tile that does not fit in the registers), and are combined once at the
// end: sum_s 2^s acc_s, by Horner's rule. 16 pixels (two vectors) per tile:
// ldn is a multiple of 16, so there is no column remainder; MB rows, at
// most 24 accumulators.
template <int KB, int A>
constexpr int bit_mb_max() {
  return bitplane_tile_rows(KB, A, 64);  // 24 / (2 LV)
}

template <int KB, int A, int MB>
TAPER_AVX512 TAPER_NO_PRE void bitplane_tile_kba(const IntGemmWeights& w, const uint8_t* col, int64_t ldn, int64_t n,
                                    const int32_t* colsum, int32_t* C, int64_t ldc, int64_t m0, int64_t j0) {
  constexpr int LV = KB + A - 1, NV = 2;
  const uint64_t* colq = reinterpret_cast<const uint64_t*>(col);
  const int64_t KW = w.KW;
  __m512i acc[LV][MB][NV];
  TAPER_UNROLL
  for (int s = 0; s < LV; ++s)
    TAPER_UNROLL
    for (int i = 0; i < MB; ++i)
      TAPER_UNROLL
      for (int v = 0; v < NV; ++v) acc[s][i][v] = _mm512_setzero_si512();
  // The tile's weight words: block m0 of the wq layout, (c, b, i) in order
  // (MB = w.tile_rows rows, or the last block's), one pointer that moves by
  // KB MB words per column word: their addresses need no register each.
  const uint64_t* wm = w.wq.data() + weight_word(w, m0, 0, 0);
  for (int64_t c = 0; c < KW; ++c, wm += KB * MB) {
    // The A planes' columns first, then each weight word once for all of
    // them (a broadcast is live for one (b, i) only).
    __m512i x[A][NV];
    TAPER_UNROLL
    for (int l = 0; l < A; ++l)
      TAPER_UNROLL
      for (int v = 0; v < NV; ++v) x[l][v] = _mm512_loadu_si512(colq + (c * A + l) * ldn + j0 + 8 * v);
    TAPER_UNROLL
    for (int b = 0; b < KB; ++b)
      TAPER_UNROLL
      for (int i = 0; i < MB; ++i) {
        const __m512i wb = _mm512_set1_epi64(static_cast<long long>(wm[b * MB + i]));
        TAPER_UNROLL
        for (int l = 0; l < A; ++l)
          TAPER_UNROLL
          for (int v = 0; v < NV; ++v)
            acc[b + l][i][v] =
                _mm512_add_epi64(acc[b + l][i][v], _mm512_popcnt_epi64(_mm512_and_si512(wb, x[l][v])));
      }
  }
  TAPER_UNROLL
  for (int v = 0; v < NV; ++v) {
    const int64_t left = n - j0 - 8 * v;  // no early exit: it would keep the loop (and acc) from unrolling
    const __mmask8 k = left >= 8 ? __mmask8(0xFF) : left <= 0 ? __mmask8(0) : __mmask8((1u << left) - 1);
    const __m512i s = _mm512_maskz_cvtepi32_epi64(__mmask8(0xFF), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(colsum + j0 + 8 * v)));
    TAPER_UNROLL
    for (int i = 0; i < MB; ++i) {
      __m512i t = acc[LV - 1][i][v];
      TAPER_UNROLL
      for (int lv = LV - 2; lv >= 0; --lv) t = _mm512_add_epi64(_mm512_add_epi64(t, t), acc[lv][i][v]);
      const __m512i Av = _mm512_sub_epi64(_mm512_add_epi64(t, t), s);
      _mm512_mask_cvtepi64_storeu_epi32(C + (m0 + i) * ldc + j0 + 8 * v, k, Av);
    }
  }
}

// The same for 32-bit column words (IntGemmWeights::word = 32): one vector
// of 16 32-bit lanes = 16 pixels, VPOPCNTD, accumulators in 32-bit lanes,
// MB = min(8, 24 / LV) rows.
template <int KB, int A>
constexpr int bit32_mb_max() {
  return bitplane_tile_rows(KB, A, 32);  // min(8, 24 / LV)
}

template <int KB, int A, int MB>
TAPER_AVX512 TAPER_NO_PRE void bitplane_tile_kba32(const IntGemmWeights& w, const uint8_t* col, int64_t ldn, int64_t n,
                                      const int32_t* colsum, int32_t* C, int64_t ldc, int64_t m0, int64_t j0) {
  constexpr int LV = KB + A - 1;
  const uint32_t* colq = reinterpret_cast<const uint32_t*>(col);
  const int64_t KW = w.KW;
  __m512i acc[LV][MB];
  TAPER_UNROLL
  for (int s = 0; s < LV; ++s)
    TAPER_UNROLL
    for (int i = 0; i < MB; ++i) acc[s][i] = _mm512_setzero_si512();
  const uint32_t* wm = reinterpret_cast<const uint32_t*>(w.wq.data()) + weight_word(w, m0, 0, 0);
  for (int64_t c = 0; c < KW; ++c, wm += KB * MB) {  // the weight words as above
    __m512i x[A];  // the A planes' columns, then each weight word once (as above)
    TAPER_UNROLL
    for (int l = 0; l < A; ++l) x[l] = _mm512_loadu_si512(colq + (c * A + l) * ldn + j0);
    TAPER_UNROLL
    for (int b = 0; b < KB; ++b)
      TAPER_UNROLL
      for (int i = 0; i < MB; ++i) {
        const __m512i wb = _mm512_set1_epi32(static_cast<int>(wm[b * MB + i]));
        TAPER_UNROLL
        for (int l = 0; l < A; ++l)
          acc[b + l][i] = _mm512_add_epi32(acc[b + l][i], _mm512_popcnt_epi32(_mm512_and_si512(wb, x[l])));
      }
  }
  const __mmask16 k = tail_mask16(n - j0);
  const __m512i s = _mm512_loadu_si512(colsum + j0);
  TAPER_UNROLL
  for (int i = 0; i < MB; ++i) {
    __m512i t = acc[LV - 1][i];
    TAPER_UNROLL
    for (int lv = LV - 2; lv >= 0; --lv) t = _mm512_add_epi32(_mm512_add_epi32(t, t), acc[lv][i]);
    _mm512_mask_storeu_epi32(C + (m0 + i) * ldc + j0, k, _mm512_sub_epi32(_mm512_add_epi32(t, t), s));
  }
}

using TileFn = void (*)(const IntGemmWeights&, const uint8_t*, int64_t, int64_t, const int32_t*, int32_t*,
                        int64_t, int64_t, int64_t);

// Tile tables: [MB - 1][NV - 1].
using DotTileFn = void (*)(const IntGemmWeights&, const int8_t*, const uint8_t*, int64_t, int64_t, const int32_t*,
                           int32_t*, int64_t, int64_t, int64_t);
#define TAPER_ROW(K, MB) {K<MB, 1>, K<MB, 2>, K<MB, 3>, K<MB, 4>}
const DotTileFn kDotTiles[kMB][kDotNV] = {TAPER_ROW(dot_tile, 1), TAPER_ROW(dot_tile, 2), TAPER_ROW(dot_tile, 3),
                                       TAPER_ROW(dot_tile, 4), TAPER_ROW(dot_tile, 5), TAPER_ROW(dot_tile, 6)};
const TileFn kBitTiles[kMB][kBitNV] = {TAPER_ROW(bitplane_tile, 1), TAPER_ROW(bitplane_tile, 2),
                                       TAPER_ROW(bitplane_tile, 3), TAPER_ROW(bitplane_tile, 4),
                                       TAPER_ROW(bitplane_tile, 5), TAPER_ROW(bitplane_tile, 6)};
#undef TAPER_ROW

// The specialized bitplane tiles of (KB, A): [MB - 1], MB = 1 .. bit_mb_max.
template <int KB, int A, size_t... I>
std::array<TileFn, sizeof...(I)> bit_tiles_kba(std::index_sequence<I...>) {
  return {bitplane_tile_kba<KB, A, int(I) + 1>...};
}

struct BitTiles {
  int mb_max = 0;
  const TileFn* tiles = nullptr;  // [MB - 1]
};

template <int KB, int A, size_t... I>
std::array<TileFn, sizeof...(I)> bit_tiles_kba32(std::index_sequence<I...>) {
  return {bitplane_tile_kba32<KB, A, int(I) + 1>...};
}

template <int KB, int A>
BitTiles bit_tiles(int word) {
  static const auto t = bit_tiles_kba<KB, A>(std::make_index_sequence<bit_mb_max<KB, A>()>{});
  static const auto t32 = bit_tiles_kba32<KB, A>(std::make_index_sequence<bit32_mb_max<KB, A>()>{});
  if (word == 32) return {bit32_mb_max<KB, A>(), t32.data()};
  return {bit_mb_max<KB, A>(), t.data()};
}

// The specialized tiles for these bits and column words, or none (mb_max 0:
// the generic tile, 64-bit words only).
BitTiles bit_tiles_for(int kb, int a, int word) {
  switch (kb * 8 + a) {
    case 1 * 8 + 1: return bit_tiles<1, 1>(word);
    case 1 * 8 + 2: return bit_tiles<1, 2>(word);
    case 1 * 8 + 3: return bit_tiles<1, 3>(word);
    case 1 * 8 + 4: return bit_tiles<1, 4>(word);
    case 2 * 8 + 1: return bit_tiles<2, 1>(word);
    case 2 * 8 + 2: return bit_tiles<2, 2>(word);
    case 3 * 8 + 1: return bit_tiles<3, 1>(word);
    case 4 * 8 + 1: return bit_tiles<4, 1>(word);
    default: return {};
  }
}

void avx512_rows(const IntGemmWeights& w, const uint8_t* col, int64_t ldn, int64_t n, const int32_t* colsum,
                 int32_t* C, int64_t ldc, int64_t m0, int64_t m1) {
  if (w.kernel == IntKernel::dot) {
    // Per block of rows, expanded once (k = 2: all rows, the tiles read the
    // codes): every column tile (outer) over its row tiles (inner), so a
    // column tile is read from L1 by all of them.
    for_each_dot_block(w, m0, m1, kMB, true, [&](int64_t b0, int64_t b1, const int8_t* s8) {
      column_tiles((n + 15) / 16, kDotNV, [&](int64_t nv, int64_t v) {
        for (int64_t m = b0; m < b1; m += kMB) {
          const int64_t mb = std::min<int64_t>(kMB, b1 - m);
          kDotTiles[mb - 1][nv - 1](w, s8 ? s8 + (m - b0) * w.Kp : nullptr, col, ldn, n, colsum, C, ldc, m, 16 * v);
        }
      });
    });
    return;
  }
  const BitTiles bt = bit_tiles_for(w.wbits, w.abits, w.word);
  check(bt.mb_max || w.word == 64, "int_gemm: internal error: 32-bit words without a specialized tile");
  check(bt.mb_max == (w.tile_rows > 1 ? w.tile_rows : 0), "int_gemm: internal error: weights laid out in blocks of ", w.tile_rows, " rows for a tile of ",
        bt.mb_max);
  if (bt.mb_max) {
    for (int64_t j = 0; j < n; j += 16)
      for (int64_t m = m0; m < m1; m += bt.mb_max) {
        const int64_t mb = std::min<int64_t>(bt.mb_max, m1 - m);
        bt.tiles[mb - 1](w, col, ldn, n, colsum, C, ldc, m, j);
      }
    return;
  }
  column_tiles((n + 7) / 8, kBitNV, [&](int64_t nv, int64_t v) {
    for (int64_t m = m0; m < m1; m += kMB) {
      const int64_t mb = std::min<int64_t>(kMB, m1 - m);
      kBitTiles[mb - 1][nv - 1](w, col, ldn, n, colsum, C, ldc, m, 8 * v);
    }
  });
}

}  // namespace

void int_gemm(const IntGemmWeights& w, const uint8_t* col, int64_t ldn, int64_t n, int32_t* C, int64_t ldc) {
  check(ldn % 16 == 0 && ldn >= n, "int_gemm: column stride ", ldn, " must be a multiple of 16 and >= n = ", n);
  thread_local std::vector<int32_t> colsum;
  colsum.resize(ldn);
  const bool need_sums = w.kernel == IntKernel::bitplane || w.wbits == 8;
  const bool fast = use_avx512_kernels();
  if (need_sums) {
    if (fast)
      col_sums_avx512(w, col, ldn, colsum.data());
    else
      col_sums(w, col, ldn, colsum.data());
  }
  if (w.kernel == IntKernel::bitplane)  // A = 2 sum q p - L sum p: pass L sum p
    for (int64_t j = 0; j < ldn; ++j) colsum[j] *= (1 << w.wbits) - 1;
  // Row blocks for the threads: the tile height of the kernel that runs.
  const int64_t rb = fast && w.kernel == IntKernel::bitplane && bit_tiles_for(w.wbits, w.abits, w.word).mb_max
                         ? bit_tiles_for(w.wbits, w.abits, w.word).mb_max
                         : kMB;
  const int64_t blocks = (w.M + rb - 1) / rb;
  const double work = double(w.M) * (w.kernel == IntKernel::dot ? w.Kp : w.word * w.KW * w.abits * w.wbits) * ldn;
  const int32_t* cs = colsum.data();
  auto rows = [&](int64_t m0, int64_t m1) {
    if (fast)
      avx512_rows(w, col, ldn, n, cs, C, ldc, m0, m1);
    else if (w.kernel == IntKernel::dot)
      dot_portable(w, col, ldn, n, cs, C, ldc, m0, m1);
    else
      bitplane_portable(w, col, ldn, n, cs, C, ldc, m0, m1);
  };
  if (work >= 4e6 && num_threads() > 1 && !in_parallel()) {
    parallel_for(blocks, true, [&](int64_t b) { rows(b * rb, std::min(w.M, (b + 1) * rb)); });
    return;
  }
  // One thread: all rows at once; the dot kernel expands them in blocks of
  // up to kDotScratchBytes (quant/dot_weights.h), and within a block (all
  // rows for bitplane) runs every row tile over one column tile while its
  // columns are in L1 (columns outer).
  rows(0, w.M);
}

}  // namespace taper
