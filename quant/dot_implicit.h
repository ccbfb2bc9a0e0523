// The dot kernel of quant/int_gemm.h (VNNI vpdpbusd, u8 codes x s8 weights)
// reading its columns straight from an image of channel-block words, for
// stride-1 convolutions: "implicit im2col", no column buffer.
//
//   C[m][out(j)] = sum_g sum_{i<4} w8[m][4 g + i] * (byte i of words[off[g] + j])
//   w8[m][r] = dot_weight(code m Kp + r of w.wpk)   (the s8 weight, quant/dot_weights.h)
//                  for every column j in [0, n) with j % row_len < row_keep,
//   out(j) = (j / row_len) * row_keep + j % row_len,   g in [0, Kp / 4).
//
// Why this is a convolution: IntConv's dot path turns an image into 32-bit
// words with a zero border, (CB, Hp, Wp), byte i of word (cb, h, w) = the
// code of channel 4 cb + i (quant/int_conv.h), and orders the GEMM rows as
// groups g = (cb KH + kh) KW + kw of 4 channels. At stride 1, output pixel
// (oh, ow) reads for group g the word (cb Hp + oh + kh) Wp + ow + kw =
// off_g + j, with off_g = (cb Hp + kh) Wp + kw and j = oh Wp + ow: one
// constant offset per group over the output grid widened to Wp columns
// (row_len = Wp). The widened columns ow >= OW (row_keep = OW) are computed
// and dropped; that is KW - 1 of every Wp (6% of the work at 32x32 with a
// 3x3 kernel, 12.5% at 16x16, 22% at 7x7), so IntConv uses this only for
// outputs at least 7 wide. What it saves is im2col's copy: at resnet20's stage 1 the
// column buffer was 147 KB per image and the word image is 18 KB, which the
// tile reads from L1 (each word for 9 taps).
//
// words must be readable at off[g] + j for j up to n rounded up to 16 (the
// caller pads with zeros past the image). Weights of k <= 7 bits (k = 8's
// offset trick needs column sums, which this path does not compute).
#pragma once

#include <cstdint>

#include "quant/int_gemm.h"

namespace taper {

// C (rows of stride ldc) as above, from weights prepared for IntKernel::dot.
// AVX-512 (VNNI) when the CPU runs it; otherwise it is dot_implicit_ref.
// Splits the rows over threads when called outside a parallel region and
// the work is large.
void dot_implicit(const IntGemmWeights& w, const uint32_t* words, const int64_t* off, int64_t n, int64_t row_len,
                  int64_t row_keep, int32_t* C, int64_t ldc);

// Scalar reference: the formula above, plain loops.
void dot_implicit_ref(const IntGemmWeights& w, const uint32_t* words, const int64_t* off, int64_t n,
                      int64_t row_len, int64_t row_keep, int32_t* C, int64_t ldc);

}  // namespace taper
