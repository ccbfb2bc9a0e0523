// Direct (implicit-GEMM) convolution kernels for stride-1 "same" convolutions.
//
// A convolution with stride 1 whose output has the input's size (2*PH ==
// KH-1, 2*PW == KW-1: 3x3 pad 1, 5x5 pad 2, ...) is the product
//
//   Y (M, P) = A (M, C*T) * B (C*T, P),   P = H*W pixels, T = KH*KW taps,
//   B[c*T + t][p] = src[c][p + off_t]  if tap t of pixel p lies inside the
//                                       image, else 0 (padding),
//   off_t = (kh - PH)*W + (kw - PW)  for t = kh*KW + kw.
//
// B is the im2col matrix, but it is never stored: every row is the source
// plane shifted by off_t, read with one AVX-512 masked load whose mask zeroes
// the padded pixels (masked-off lanes never touch memory). Forward is this
// product with A = W and src = x. Backward-data is the same kind of product
// (a transposed convolution of a "same" convolution is again one, with the
// kernel flipped and padding KH-1-PH): A = W transposed and flipped, src = dy.
//
// The kernels need AVX-512; direct_conv_available() says whether they were
// compiled in (Conv2d falls back to im2col + sgemm otherwise). Conv2d's tests
// hold every path to the plain reference loops in layers/conv2d.cpp.
#pragma once

#include <cstdint>
#include <vector>

namespace taper {

bool direct_conv_available();

// Whether (kernel, stride, pad) along one axis keeps the size ("same", stride 1).
inline bool is_same_conv_axis(int64_t kernel, int64_t stride, int64_t pad) {
  return stride == 1 && 2 * pad == kernel - 1;
}

// Tap offsets and padding masks of one geometry, built once per shape. A
// plane may hold several images side by side (B*H*W pixels), so that small
// images fill whole vectors; a tap never reads across images, because the
// lanes where it would are exactly the padded ones.
struct DirectConvPlan {
  int64_t H = 0, W = 0, KH = 0, KW = 0, PH = 0, PW = 0, B = 0;
  int64_t P = 0;   // pixels per plane, B*H*W
  int64_t PV = 0;  // 16-lane vectors per plane, ceil(P / 16)
  std::vector<int64_t> tap_off;    // (T): src offset of tap t
  std::vector<uint16_t> tap_mask;  // (T, PV): lanes of vector v whose tap t is inside
  std::vector<uint16_t> tail;      // (PV): lanes of vector v that are pixels (< P)

  DirectConvPlan() = default;
  DirectConvPlan(int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t PH, int64_t PW, int64_t B);
  int64_t taps() const { return KH * KW; }
  bool same(int64_t H_, int64_t W_, int64_t KH_, int64_t KW_, int64_t PH_, int64_t PW_,
            int64_t B_) const {
    return H == H_ && W == W_ && KH == KH_ && KW == KW_ && PH == PH_ && PW == PW_ && B == B_;
  }
};

// Rows of A per packed panel: A (M, K) is stored as ceil(M / kPanelRows)
// panels, each (K, kPanelRows) with rows beyond M zero-filled.
inline constexpr int64_t kPanelRows = 8;
inline int64_t packed_a_size(int64_t M, int64_t K) {
  return (M + kPanelRows - 1) / kPanelRows * kPanelRows * K;
}
// Packs A (M, K), row-major with row stride lda.
void pack_a(const float* a, int64_t lda, int64_t M, int64_t K, float* packed);
// Packs the backward-data matrix of weights w (M_out, C, KH, KW) of one
// group: A'[c][o*T + t] = w[o][c][T-1-t] (transposed, kernel flipped),
// an (C, M_out*T) matrix.
void pack_a_transposed_flipped(const float* w, int64_t M_out, int64_t C, int64_t T, float* packed);

// y (M, P) = A (M, C*T) * B + bias (M, or nullptr), or y += A * B when
// accumulate. A packed by pack_a; src holds C planes of plan.P pixels and y
// M planes.
void direct_conv_forward(const DirectConvPlan& plan, const float* a_packed, int64_t M, int64_t C,
                         const float* src, const float* bias, bool accumulate, float* y);

}  // namespace taper
