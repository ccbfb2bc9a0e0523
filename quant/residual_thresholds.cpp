#include "quant/residual_thresholds.h"

#include <immintrin.h>

#include <algorithm>

#include "engine/error.h"
#include "engine/parallel.h"
#include "quant/cpu_features.h"
#include "quant/pack.h"

namespace taper {

namespace {

int sign_of(float v) { return v > 0.0f ? 1 : v < 0.0f ? -1 : 0; }

}  // namespace

ResidualThresholds fold_residual_thresholds(const std::vector<ResidualChannel>& ch, int abits, int32_t amin,
                                            int32_t amax) {
  check(abits >= 1 && abits <= 4, "fold_residual_thresholds: abits ", abits, " must be 1..4");
  constexpr int32_t kLimit = 2147483646;  // 2^31 - 2: d * A and the sentinels fit in int32
  check(amin <= amax && amin >= -kLimit && amax <= kLimit, "fold_residual_thresholds: accumulator range [", amin,
        ", ", amax, "] must be ordered and within +-(2^31 - 2)");
  const int P = code_max(abits);
  const float Pf = static_cast<float>(P);
  ResidualThresholds th;
  th.abits = abits, th.C = static_cast<int64_t>(ch.size()), th.P = P;
  th.dir.resize(th.C);
  th.u.assign(th.C * P * (P + 1), 0);
  std::vector<int32_t> u(P);
  for (int64_t c = 0; c < th.C; ++c) {
    const ResidualChannel& f = ch[c];
    const int d = sign_of(f.acc_scale) * sign_of(f.bn_scale);
    th.dir[c] = static_cast<int8_t>(d);
    for (int o = 0; o <= P; ++o) {
      monotone_thresholds([&](int32_t A) { return residual_code(A, f, o, Pf); }, d, amin, amax, P, u.data());
      for (int t = 1; t <= P; ++t) th.u[(c * P + t - 1) * (P + 1) + o] = u[t - 1];
    }
  }
  return th;
}

void apply_residual_thresholds_ref(const ResidualThresholds& th, const int32_t* A, const uint8_t* o, int64_t N,
                                   int64_t HW, uint8_t* codes) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < th.C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t at = (n * th.C + c) * HW + i;
        // U_c,t,o for t = 1..P lie P + 1 apart, from [c * P * (P + 1) + o].
        codes[at] = static_cast<uint8_t>(
            threshold_code(th.dir[c] * A[at], &th.u[c * th.P * (th.P + 1) + o[at]], th.P, th.P + 1));
      }
}

namespace {

// One row (one image's channel c) on AVX-512, 16 accumulators per step:
// v = d * A, the shortcut's codes widened to int32 lanes pick each lane's
// threshold from the 16-entry row of t (vpermd), one compare per threshold
// into a mask, the count kept as int32 lanes, stored as bytes.
__attribute__((target("avx512f,avx512bw"))) void residual_row_avx512(const int32_t* a, const uint8_t* o, int64_t HW,
                                                                    int32_t d, const int32_t* u, int64_t P,
                                                                    uint8_t* out) {
  const __m512i zero = _mm512_setzero_si512(), minus_one = _mm512_set1_epi32(-1);
  __m512i rows[15];  // the P + 1 thresholds of t in lanes 0..P
  const __mmask16 used = __mmask16((1u << (P + 1)) - 1);
  for (int64_t t = 0; t < P; ++t) rows[t] = _mm512_maskz_loadu_epi32(used, u + t * (P + 1));
  for (int64_t i = 0; i < HW; i += 16) {
    const int64_t n = std::min<int64_t>(16, HW - i);
    const __mmask16 k = n == 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
    const __m512i x = _mm512_maskz_loadu_epi32(k, a + i);
    const __m512i v = d > 0 ? x : d < 0 ? _mm512_sub_epi32(zero, x) : zero;
    const __m512i idx = _mm512_cvtepu8_epi32(_mm512_castsi512_si128(_mm512_maskz_loadu_epi8(__mmask64(k), o + i)));
    __m512i count = zero;
    for (int64_t t = 0; t < P; ++t)
      count = _mm512_mask_sub_epi32(count, _mm512_cmpge_epi32_mask(v, _mm512_permutexvar_epi32(idx, rows[t])),
                                    count, minus_one);
    _mm512_mask_cvtepi32_storeu_epi8(out + i, k, count);
  }
}

// The same, portable.
void residual_row(const int32_t* __restrict a, const uint8_t* __restrict o, int64_t HW, int32_t d,
                  const int32_t* __restrict u, int64_t P, uint8_t* __restrict out) {
  for (int64_t i = 0; i < HW; ++i) out[i] = static_cast<uint8_t>(threshold_code(d * a[i], u + o[i], P, P + 1));
}

}  // namespace

void apply_residual_thresholds(const ResidualThresholds& th, const int32_t* A, const uint8_t* o, int64_t N,
                               int64_t HW, uint8_t* codes) {
  const int64_t rows = N * th.C, P = th.P;
  const bool avx512 = use_avx512_kernels();
  parallel_for(rows, rows * HW >= kMinParallelWork, [&](int64_t row) {
    const int64_t c = row % th.C;
    const int32_t* u = &th.u[c * P * (P + 1)];
    if (avx512)
      residual_row_avx512(A + row * HW, o + row * HW, HW, th.dir[c], u, P, codes + row * HW);
    else
      residual_row(A + row * HW, o + row * HW, HW, th.dir[c], u, P, codes + row * HW);
  });
}

}  // namespace taper
