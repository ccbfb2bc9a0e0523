#include "quant/thresholds.h"

#include <immintrin.h>

#include "engine/error.h"
#include "engine/parallel.h"
#include "quant/cpu_features.h"
#include "quant/pack.h"

namespace taper {

std::vector<FoldedChannel> fold_batchnorm(const float* acc_scale, const float* gamma, const float* beta,
                                          const float* running_mean, const float* running_var, float eps,
                                          int64_t C) {
  check(std::isfinite(eps) && eps >= 0.0f, "fold_batchnorm: eps ", eps, " is not a finite value >= 0");
  std::vector<FoldedChannel> ch(C);
  for (int64_t c = 0; c < C; ++c) {
    check(std::isfinite(acc_scale[c]) && std::isfinite(gamma[c]) && std::isfinite(beta[c]) &&
              std::isfinite(running_mean[c]) && std::isfinite(running_var[c]),
          "fold_batchnorm: channel ", c, " has a value that is not finite (scale ", acc_scale[c], ", gamma ",
          gamma[c], ", beta ", beta[c], ", mean ", running_mean[c], ", var ", running_var[c], ")");
    check(double(running_var[c]) + eps > 0.0, "fold_batchnorm: channel ", c, " has var + eps = ",
          double(running_var[c]) + eps, " (must be > 0)");
    const float invstd = bn_invstd(running_var[c], eps);
    ch[c] = FoldedChannel{acc_scale[c], running_mean[c], gamma[c] * invstd, beta[c]};
    check(std::isfinite(invstd) && std::isfinite(ch[c].bn_scale), "fold_batchnorm: channel ", c,
          " has gamma * invstd = ", ch[c].bn_scale, " (var ", running_var[c], ", eps ", eps, "): not finite");
  }
  return ch;
}

namespace {

int sign_of(float v) { return v > 0.0f ? 1 : v < 0.0f ? -1 : 0; }

}  // namespace

ActThresholds fold_thresholds(const std::vector<FoldedChannel>& ch, int abits, int32_t amin, int32_t amax) {
  const int P = code_max(abits);
  constexpr int32_t kLimit = 2147483646;  // 2^31 - 2: d * A and the sentinels fit in int32
  check(amin <= amax && amin >= -kLimit && amax <= kLimit, "fold_thresholds: accumulator range [", amin, ", ",
        amax, "] must be ordered and within +-(2^31 - 2)");
  ActThresholds th;
  th.abits = abits, th.C = static_cast<int64_t>(ch.size()), th.P = P;
  th.dir.resize(th.C);
  th.u.resize(th.C * P);
  const float Pf = static_cast<float>(P);
  for (int64_t c = 0; c < th.C; ++c) {
    const FoldedChannel& f = ch[c];
    const int d = sign_of(f.acc_scale) * sign_of(f.bn_scale);
    th.dir[c] = static_cast<int8_t>(d);
    monotone_thresholds([&](int32_t A) { return folded_code(A, f, Pf); }, d, amin, amax, P, &th.u[c * P]);
  }
  return th;
}

void apply_thresholds_ref(const ActThresholds& th, const int32_t* A, int64_t N, int64_t HW, uint8_t* codes) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < th.C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t at = (n * th.C + c) * HW + i;
        codes[at] = static_cast<uint8_t>(threshold_code(th.dir[c] * A[at], &th.u[c * th.P], th.P));
      }
}

// One row (one image's channel c): restrict pointers, so that the u8 stores,
// which may alias anything, do not keep the compiler from vectorizing.
static void threshold_row(const int32_t* __restrict a, int64_t HW, int32_t d, const int32_t* __restrict u, int64_t P,
                          uint8_t* __restrict out) {
  for (int64_t i = 0; i < HW; ++i) out[i] = 0;
  for (int64_t t = 0; t < P; ++t) {
    const int32_t ut = u[t];
    for (int64_t i = 0; i < HW; ++i) out[i] += static_cast<uint8_t>(d * a[i] >= ut);
  }
}

// The same on AVX-512, 16 accumulators per step: v = d * A (d is -1, 0 or
// 1: A, -A or 0), one compare per threshold into a mask, the count kept as
// int32 lanes (+1 under the mask), stored as bytes (vpmovdb); the tail
// under a mask.
__attribute__((target("avx512f,avx512bw"))) static void threshold_row_avx512(const int32_t* a, int64_t HW,
                                                                            int32_t d, const int32_t* u,
                                                                            int64_t P, uint8_t* out) {
  const __m512i zero = _mm512_setzero_si512(), minus_one = _mm512_set1_epi32(-1);
  for (int64_t i = 0; i < HW; i += 16) {
    const int64_t n = std::min<int64_t>(16, HW - i);
    const __mmask16 k = n == 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
    const __m512i x = _mm512_maskz_loadu_epi32(k, a + i);
    const __m512i v = d > 0 ? x : d < 0 ? _mm512_sub_epi32(zero, x) : zero;
    __m512i count = zero;
    for (int64_t t = 0; t < P; ++t)
      count = _mm512_mask_sub_epi32(count, _mm512_cmpge_epi32_mask(v, _mm512_set1_epi32(u[t])), count, minus_one);
    _mm512_mask_cvtepi32_storeu_epi8(out + i, k, count);
  }
}

void apply_thresholds(const ActThresholds& th, const int32_t* A, int64_t N, int64_t HW, uint8_t* codes) {
  const int64_t rows = N * th.C, P = th.P;
  const bool avx512 = use_avx512_kernels();
  parallel_for(rows, rows * HW >= kMinParallelWork, [&](int64_t row) {
    const int64_t c = row % th.C;
    if (avx512)
      threshold_row_avx512(A + row * HW, HW, th.dir[c], &th.u[c * P], P, codes + row * HW);
    else
      threshold_row(A + row * HW, HW, th.dir[c], &th.u[c * P], P, codes + row * HW);
  });
}

}  // namespace taper
