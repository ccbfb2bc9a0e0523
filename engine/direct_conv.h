// Direct (implicit-GEMM) convolution kernels: im2col without the copy.
//
// A convolution is the product
//
//   Y (M, P) = A (M, C*T) * B (C*T, P),   P = OH*OW output pixels, T = KH*KW
//
// with B the im2col matrix. For stride 1 and an output as large as the
// input ("same": 3x3 pad 1, 5x5 pad 2, ...), row c*T + t of B is input plane
// c shifted by a constant, off_t = (kh - PH)*W + (kw - PW), with the padded
// pixels zeroed. The kernels never store B: they read each row with one
// AVX-512 masked load whose mask zeroes the padded lanes (masked-off lanes
// never touch memory).
//
// Stride s works the same way after splitting each input plane into s*s
// phase planes, phase (a, b) holding x[s*i + a][s*j + b] on the (OH, OW)
// output grid: tap (kh, kw) then reads phase ((kh - PH) mod s, (kw - PW)
// mod s) shifted by (floor((kh - PH)/s), floor((kw - PW)/s)) rows and
// columns. That needs every phase plane to fit the output grid
// (direct_conv_fits), true for the "same"-padded convolutions taper's models
// use (3x3 stride 2 pad 1, 1x1 stride 2).
//
// Backward-data is the same kind of product, A = W^T and the source dy:
// input phase (a, b) of dx receives, from the taps of that phase, dy
// shifted the other way. A block of small images is one plane of B*OH*OW
// pixels side by side; a tap never reads across images, because the lanes
// where it would are exactly the masked ones.
//
// The kernels need AVX-512; direct_conv_available() says whether they were
// compiled in (Conv2d falls back to im2col + sgemm otherwise). Conv2d's tests
// hold every path to the plain reference loops in layers/conv2d.cpp.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/im2col.h"

namespace taper {

bool direct_conv_available();

// Whether the direct kernels handle geometry g (every phase plane fits the
// output grid), and whether the input planes are already the phase planes
// (stride 1 with output size == input size), so no split is needed.
bool direct_conv_fits(const ConvGeom& g);
bool direct_input_is_phase_plane(const ConvGeom& g);

// How the kernel reads row c*T + t of B from its source:
//   B[c*T + t][q] = src[c*channel_stride + q + tap_off[t]]  if lane q is live, else 0,
// lane q live when bit q % 16 of tap_mask[t*PV + q/16] is set.
struct DirectConvPlan {
  int64_t P = 0;               // pixels per output plane (B images of OH*OW)
  int64_t PV = 0;              // 16-lane vectors per plane, ceil(P / 16)
  int64_t channel_stride = 0;  // floats between consecutive channels of src
  std::vector<int64_t> tap_off;    // (T)
  std::vector<uint16_t> tap_mask;  // (T, PV)
  std::vector<uint16_t> tail;      // (PV): lanes that are pixels (< P)
  int64_t taps() const { return static_cast<int64_t>(tap_off.size()); }
};

// Forward over blocks of B images; src holds the phase planes of split_phases
// (or, when direct_input_is_phase_plane and B == 1, the image itself).
DirectConvPlan direct_forward_plan(const ConvGeom& g, int64_t B);
// Backward-data for input phase `phase` = a*SW + b; src is dy (M, B*OH*OW).
// taps gets the kernel taps t = kh*KW + kw of that phase, in the order of
// the plan's rows (empty when no tap lands on the phase, e.g. 1x1 stride 2).
DirectConvPlan direct_backward_plan(const ConvGeom& g, int64_t B, int64_t phase,
                                    std::vector<int64_t>& taps);

// dst (C, SH*SW, B*OH*OW) <- the phase planes of images [n0, n0 + count) of
// x (N, C, H, W); grid cells outside the image are left as they are (no
// live lane reads them).
void split_phases(const ConvGeom& g, const float* x, int64_t n0, int64_t count, int64_t B,
                  float* dst);
// Images [n0, n0 + count) of dx (N, C, H, W) += phase `phase` read from
// src (C, B*OH*OW), the inverse of split_phases for one phase.
void merge_phase_add(const ConvGeom& g, const float* src, int64_t phase, int64_t n0,
                     int64_t count, int64_t B, float* dx);

// Rows of A per packed panel: A (M, K) is stored as ceil(M / kPanelRows)
// panels, each (K, kPanelRows) with rows beyond M zero-filled.
inline constexpr int64_t kPanelRows = 8;
inline int64_t packed_a_size(int64_t M, int64_t K) {
  return (M + kPanelRows - 1) / kPanelRows * kPanelRows * K;
}
// Packs A (M, K), row-major with row stride lda.
void pack_a(const float* a, int64_t lda, int64_t M, int64_t K, float* packed);
// Packs A' (C, M_out*|taps|), A'[c][o*|taps| + j] = w[o][c][taps[j]], from
// the weights w (M_out, C, T) of one group: backward-data's matrix.
void pack_a_transposed(const float* w, int64_t M_out, int64_t C, int64_t T,
                       const std::vector<int64_t>& taps, float* packed);

// y (M, P) = A (M, C*T) * B + bias (M, or nullptr), or y += A * B when
// accumulate; A packed by pack_a, y holds M planes of plan.P pixels.
void direct_conv_forward(const DirectConvPlan& plan, const float* a_packed, int64_t M, int64_t C,
                         const float* src, const float* bias, bool accumulate, float* y);
// The same product as plain loops (one dot product per output, in double),
// for tests; also what direct_conv_forward runs on a CPU without AVX-512.
void direct_conv_forward_ref(const DirectConvPlan& plan, const float* a_packed, int64_t M,
                             int64_t C, const float* src, const float* bias, bool accumulate,
                             float* y);

}  // namespace taper
