// Batch norm + activation quantizer folded into per-channel integer
// thresholds on a quantized layer's int32 accumulator (FINN's
// "streamlining", Larq Compute Engine's output transform).
//
// The float formula, per channel c, for an accumulator A (quant/int_gemm.h):
//   y    = float(A) * acc_scale_c           acc_scale_c = 1 / (L P) for k >= 2
//                                           weights, s_c / (L P) for k = 1
//                                           (phase 2 fixes how it is computed;
//                                           here it is an input)
//   z    = (y - mean_c) * bn_scale_c + beta_c,
//          bn_scale_c = gamma_c * invstd_c, invstd_c = float(1 / sqrt(double(var_c) + eps))
//          (batch norm in eval mode, the float ops of layers/batchnorm.cpp)
//   code = nearbyint(P * clamp(z, 0, 1)),   P = 2^a - 1  (the next layer's code)
// folded_code() below is that formula, written once; the thresholds are
// computed from it and are therefore bit-exact with it at every boundary.
//
// Every step is a monotone function of A (float rounding of a monotone
// operation is monotone), so code(A) is monotone per channel, with
// direction d_c = sign(acc_scale_c) * sign(bn_scale_c) (the float values):
//   d_c = +1  non-decreasing:  T_ct = the least A in [amin, amax] with code(A) >= t
//   d_c = -1  non-increasing:  T_ct = the greatest A with code(A) >= t
//   d_c =  0  constant (gamma = 0, or a zero scale): code = code(0) for every A
// and all three cases are stored in one form, t = 1..P:
//   code(A) = #{ t : d_c * A >= U_ct }
//   d = +1:  U_ct = T_ct                   (amax + 1 when no A reaches t)
//   d = -1:  U_ct = -T_ct                  (1 - amin when no A reaches t)
//   d =  0:  U_ct = 0 for t <= code(0), 1 for t > code(0)
// U_c1 <= U_c2 <= ... <= U_cP. The identity holds for A in [amin, amax]
// (the layer's possible accumulators, e.g. +-K L P), which must lie within
// +-(2^31 - 2) so that d * A and the sentinels fit in int32. Each T_ct is a
// binary search over [amin, amax] with folded_code.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "layers/batchnorm.h"
#include "quant/act_quant.h"

namespace taper {

// One channel's float coefficients.
struct FoldedChannel {
  float acc_scale = 1.0f;  // y = float(A) * acc_scale
  float mean = 0.0f;       // running mean
  float bn_scale = 1.0f;   // gamma * invstd
  float shift = 0.0f;      // beta
};

// invstd as batch norm computes it in eval mode (layers/batchnorm.h).
inline float bn_invstd(float var, float eps) { return batchnorm_invstd(var, eps); }

// z -> the a-bit code nearbyint(P * clamp(z, 0, 1)), P = 2^a - 1 as a float:
// the activation quantizer's own formula (quant/act_quant.h).
inline int act_code(float z, float P) { return static_cast<int>(act_quant_code(z, P)); }

// The float formula above, for one accumulator of one channel.
inline int folded_code(int32_t A, const FoldedChannel& f, float P) {
  const float y = static_cast<float>(A) * f.acc_scale;
  const float z = batchnorm_affine(y, f.mean, f.bn_scale, f.shift);
  return act_code(z, P);
}

// The thresholds of one channel for any code function of A that is
// monotone with direction d on [amin, amax] (the construction above; the
// caller checks the range): u[t - 1], t = 1..P, such that
// code(A) = #{t : d * A >= u[t - 1]}. Each is a binary search with `code`.
template <typename Code>
void monotone_thresholds(const Code& code, int d, int32_t amin, int32_t amax, int P, int32_t* u) {
  if (d == 0) {
    const int c0 = code(0);
    for (int t = 1; t <= P; ++t) u[t - 1] = t <= c0 ? 0 : 1;
    return;
  }
  for (int t = 1; t <= P; ++t) {
    if (d > 0) {  // least A with code(A) >= t, or amax + 1
      int64_t lo = amin, hi = int64_t(amax) + 1;  // answer in [lo, hi]
      while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (code(static_cast<int32_t>(mid)) >= t) hi = mid; else lo = mid + 1;
      }
      u[t - 1] = static_cast<int32_t>(lo);
    } else {  // greatest A with code(A) >= t, or amin - 1; stored negated
      int64_t lo = int64_t(amin) - 1, hi = amax;  // answer in [lo, hi]
      while (lo < hi) {
        const int64_t mid = hi - (hi - lo) / 2;
        if (code(static_cast<int32_t>(mid)) >= t) lo = mid; else hi = mid - 1;
      }
      u[t - 1] = static_cast<int32_t>(-lo);
    }
  }
}

struct ActThresholds {
  int abits = 0;
  int64_t C = 0;
  int64_t P = 0;                 // thresholds per channel, 2^abits - 1
  std::vector<int8_t> dir;       // (C): d_c in {-1, 0, +1}
  std::vector<int32_t> u;        // (C, P): U_ct, t = 1..P at [c * P + t - 1]
};

// Channel coefficients from batch-norm parameters: (C) each; eps >= 0.
// Throws Error naming the channel when a value is not finite or
// var + eps is not > 0.
std::vector<FoldedChannel> fold_batchnorm(const float* acc_scale, const float* gamma, const float* beta,
                                          const float* running_mean, const float* running_var, float eps,
                                          int64_t C);

// The thresholds of C channels for accumulators in [amin, amax].
ActThresholds fold_thresholds(const std::vector<FoldedChannel>& ch, int abits, int32_t amin, int32_t amax);

// Scalar reference: codes (N, C, HW) from A (N, C, HW) by counting thresholds.
// The code of a direction-adjusted accumulator v = dir_c A: how many of the
// P ascending thresholds u[0], u[stride], ..., u[(P - 1) stride] it reaches.
inline int threshold_code(int32_t v, const int32_t* u, int64_t P, int64_t stride = 1) {
  int code = 0;
  for (int64_t t = 0; t < P; ++t) code += v >= u[t * stride];
  return code;
}

void apply_thresholds_ref(const ActThresholds& th, const int32_t* A, int64_t N, int64_t HW, uint8_t* codes);
// Fast version (threads over N * C rows for large inputs; AVX-512 compares
// into masks when the CPU has it, quant/cpu_features.h, else a loop the
// compiler vectorizes), equal to the reference.
void apply_thresholds(const ActThresholds& th, const int32_t* A, int64_t N, int64_t HW, uint8_t* codes);

}  // namespace taper
