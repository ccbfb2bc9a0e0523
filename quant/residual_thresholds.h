// The end of a residual block on integers (models/packed_model.h): the
// branch's conv accumulator A, its batch norm, the add of a shortcut that
// is activation codes, and the quantizer after the add, folded into
// per-channel thresholds that depend on the shortcut's code.
//
// The float formula, per channel c, for an accumulator A (quant/int_gemm.h)
// and the shortcut's code o (0..P, its value o / P):
//   v    = float(A) * acc_scale_c + bias_c          (the unfolded int layer)
//   z    = (v - mean_c) * bn_scale_c + shift_c + float(o) / float(P)
//   code = nearbyint(P * clamp(z, 0, 1))
// residual_code() below is that formula, written once; the integer
// engine's float path (acc_bn_add_codes) computes the same float ops.
//
// For each o it is a monotone function of A with the direction of
// fold_thresholds (quant/thresholds.h), d_c = sign(acc_scale_c) *
// sign(bn_scale_c) (adding a constant and rounding keep the order), so
//   code(A, o) = #{ t : d_c * A >= U_c,t,o },  t = 1..P,
// with U built by monotone_thresholds for each (c, o): P (P + 1) int32 per
// channel. Applying them is P compares per accumulator, the threshold of
// each lane picked by its shortcut code (vpermd from the P + 1 entries of
// a row): so a <= 4 (P + 1 <= 16).
#pragma once

#include <cstdint>
#include <vector>

#include "quant/thresholds.h"

namespace taper {

struct ResidualChannel {
  float acc_scale = 1.0f;  // v = float(A) * acc_scale + bias
  float bias = 0.0f;
  float mean = 0.0f;       // the batch norm after the int layer
  float bn_scale = 1.0f;
  float shift = 0.0f;
};

// The float formula above.
inline int residual_code(int32_t A, const ResidualChannel& f, int o, float P) {
  const float v = static_cast<float>(A) * f.acc_scale + f.bias;
  return act_code((v - f.mean) * f.bn_scale + f.shift + static_cast<float>(o) / P, P);
}

struct ResidualThresholds {
  int abits = 0;
  int64_t C = 0;
  int64_t P = 0;              // 2^abits - 1, at most 15
  std::vector<int8_t> dir;    // (C): d_c in {-1, 0, +1}
  std::vector<int32_t> u;     // (C, P, P + 1): U_c,t,o at [(c * P + t - 1) * (P + 1) + o], o = 0..P
};

// Thresholds of C channels for accumulators in [amin, amax] (within
// +-(2^31 - 2)); abits 1..4. Throws Error otherwise.
ResidualThresholds fold_residual_thresholds(const std::vector<ResidualChannel>& ch, int abits, int32_t amin,
                                            int32_t amax);

// Scalar reference: codes (N, C, HW) from A (N, C, HW) and the shortcut's
// codes o (N, C, HW), by counting thresholds.
void apply_residual_thresholds_ref(const ResidualThresholds& th, const int32_t* A, const uint8_t* o, int64_t N,
                                   int64_t HW, uint8_t* codes);
// Fast version (AVX-512 when the CPU has it, quant/cpu_features.h; threads
// over N * C rows for large inputs), equal to the reference.
void apply_residual_thresholds(const ResidualThresholds& th, const int32_t* A, const uint8_t* o, int64_t N,
                               int64_t HW, uint8_t* codes);

}  // namespace taper
