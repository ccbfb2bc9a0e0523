#include "quant/dot_weights.h"

#include <immintrin.h>

#include <array>
#include <vector>

#include "quant/cpu_features.h"

namespace taper {

void expand_dot_rows_ref(const IntGemmWeights& w, int64_t m0, int64_t m1, int8_t* s8) {
  const int64_t first = m0 * w.Kp, n = (m1 - m0) * w.Kp;
  for (int64_t i = 0; i < n; ++i) s8[i] = static_cast<int8_t>(dot_weight(code_at(w.wpk.data(), first + i, w.wbits), w.wbits));
}

namespace {

// n codes of a byte-aligned stream src -> s8, 64 codes (8 k bytes) per
// step: vpermb puts the k bytes of codes 8 j .. 8 j + 7 into 64-bit lane j,
// vpmultishiftqb moves bits i k .. i k + 7 of each lane to its byte i (code
// 8 j + i in the low k bits, the next codes' bits above them), and a table
// lookup on the low bits gives dot_weight: vpermb of the 64-entry table
// t[x] = dot_weight(x mod 2^k) (k <= 6: periodic in the 6 index bits, so
// the bits above the code do not matter), vpermi2b of 128 entries at k = 7;
// at k = 8 the byte is the code, and q - 128 = q ^ 0x80. The tail under
// masks.
struct ExpandTables {
  alignas(64) uint8_t idx[64], shift[64];  // vpermb's source bytes, vpmultishiftqb's bit offsets
  alignas(64) int8_t table[128];           // dot_weight of the low bits (k <= 7)
};

// Built once per k (a layer's blocks call the expansion once each).
const ExpandTables& expand_tables(int k) {
  static const std::array<ExpandTables, 9> all = [] {
    std::array<ExpandTables, 9> t{};
    for (int k = 1; k <= 8; ++k) {
      for (int j = 0; j < 8; ++j)
        for (int b = 0; b < 8; ++b) {
          t[k].idx[8 * j + b] = static_cast<uint8_t>((j * k + b) & 63);  // bytes past the k of lane j are never used
          t[k].shift[8 * j + b] = static_cast<uint8_t>(b * k);
        }
      const int kt = std::min(k, 7);
      for (int x = 0; x < 128; ++x) t[k].table[x] = static_cast<int8_t>(dot_weight(x & ((1 << kt) - 1), kt));
    }
    return t;
  }();
  return all[k];
}

#define TAPER_AVX512_VBMI __attribute__((target("avx512f,avx512bw,avx512vbmi")))

// One step: the 64 codes whose k-bit stream starts at `in` (bytes under
// kin) -> their 64 s8 weights. A named function, not a lambda: GCC does not
// give a lambda its enclosing function's target, so a lambda's intrinsics
// fail to inline in a build without -march=native.
TAPER_AVX512_VBMI inline __m512i expand_step(const uint8_t* in, __mmask64 kin, int k, __m512i vidx, __m512i vshift,
                                             __m512i t0, __m512i t1, __m512i top) {
  const __m512i x = _mm512_maskz_loadu_epi8(kin, in);
  const __m512i q = _mm512_multishift_epi64_epi8(vshift, _mm512_permutexvar_epi8(vidx, x));
  return k <= 6 ? _mm512_permutexvar_epi8(q, t0) : k == 7 ? _mm512_permutex2var_epi8(t0, q, t1) : _mm512_xor_si512(q, top);
}

TAPER_AVX512_VBMI void expand_codes_vbmi(const uint8_t* src, int64_t n, int k, int8_t* s8) {
  const ExpandTables& et = expand_tables(k);
  const __m512i vidx = _mm512_load_si512(et.idx), vshift = _mm512_load_si512(et.shift);
  const __m512i t0 = _mm512_load_si512(et.table), t1 = _mm512_load_si512(et.table + 64);
  const __m512i top = _mm512_set1_epi8(static_cast<char>(0x80));
  const __mmask64 kfull = k == 8 ? ~__mmask64(0) : (__mmask64(1) << (8 * k)) - 1;  // the 8 k bytes of 64 codes
  int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    _mm512_storeu_si512(s8 + i, expand_step(src + (i / 8) * k, kfull, k, vidx, vshift, t0, t1, top));
  if (i < n) {
    const int64_t left = n - i, bytes = (left * k + 7) / 8;
    _mm512_mask_storeu_epi8(s8 + i, (__mmask64(1) << left) - 1,
                            expand_step(src + (i / 8) * k, (__mmask64(1) << bytes) - 1, k, vidx, vshift, t0, t1, top));
  }
}

// The same with unpack_codes (8 codes = k bytes at a time) and the map.
void expand_codes_portable(const uint8_t* src, int64_t n, int k, int8_t* s8) {
  uint8_t* q = reinterpret_cast<uint8_t*>(s8);
  unpack_codes(src, n, k, q);
  for (int64_t i = 0; i < n; ++i) s8[i] = static_cast<int8_t>(dot_weight(q[i], k));
}

}  // namespace

void expand_dot_rows(const IntGemmWeights& w, int64_t m0, int64_t m1, int8_t* s8) {
  const int64_t first = m0 * w.Kp, n = (m1 - m0) * w.Kp;
  // Blocks start at even rows (multiples of the tile height), so at a byte
  // for every k (Kp is a multiple of 4); any other start takes the reference.
  if ((first * w.wbits) % 8 != 0) return expand_dot_rows_ref(w, m0, m1, s8);
  const uint8_t* src = w.wpk.data() + first * w.wbits / 8;
  if (use_avx512_vbmi())
    expand_codes_vbmi(src, n, w.wbits, s8);
  else
    expand_codes_portable(src, n, w.wbits, s8);
}

int64_t dot_block_rows(const IntGemmWeights& w, int64_t tile_rows) {
  const int64_t fit = std::max<int64_t>(tile_rows, kDotScratchBytes / w.Kp / tile_rows * tile_rows);
  const int64_t blocks = (w.M + fit - 1) / fit, rows = (w.M + blocks - 1) / blocks;
  return (rows + tile_rows - 1) / tile_rows * tile_rows;
}

const int32_t* dot_lut2() {
  static const std::array<int32_t, 256> lut = [] {
    std::array<int32_t, 256> t{};
    for (int b = 0; b < 256; ++b) {
      uint32_t v = 0;
      for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(int8_t(dot_weight((b >> (2 * i)) & 3, 2)))) << (8 * i);
      t[b] = int32_t(v);
    }
    return t;
  }();
  return lut.data();
}

int8_t* dot_scratch(int64_t bytes) {
  thread_local std::vector<int8_t> s;
  if (int64_t(s.size()) < bytes) s.resize(bytes);
  return s.data();
}

}  // namespace taper
