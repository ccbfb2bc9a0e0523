// Weight gradient of a convolution as a sum of outer products over pixels.
//
// For one group, with x zero-padded to xp (C, Hp, Wp), Hp = H + 2*PH,
// Wp = W + 2*PW, and dy transposed to dyT (OH*OW, M) (pixel-major, one row
// of M output channels per pixel):
//
//   dWT[k][m] += sum_{images, oh, ow} xp[c][(SH*oh + kh)*Wp + SW*ow + kw] * dyT[oh*OW + ow][m]
//
// with k = (c*KH + kh)*KW + kw, i.e. dWT (C*KH*KW, M) is dW transposed. Each
// step of the pixel sum is a broadcast of one input value times a vector of
// 16 output channels, so no lane ever needs a horizontal sum, the padding
// needs no masks (it is stored as zeros), and any stride works. This is the
// im2col product dW = dy col^T without forming col.
//
// The kernel needs AVX-512 (conv_weight_grad_available()); Conv2d falls back
// to im2col + sgemm otherwise. Conv2d's tests hold it to the reference loop.
#pragma once

#include <cstdint>

namespace taper {

bool conv_weight_grad_available();

struct WeightGradGeom {
  int64_t C, KH, KW, SH, SW;  // input channels of the group, kernel, stride
  int64_t Hp, Wp;             // padded input plane
  int64_t OH, OW;             // output plane
};

// xp (C, Hp, Wp) <- x (C, H, W) with PH rows and PW columns of zeros around.
void pad_planes(const float* x, int64_t C, int64_t H, int64_t W, int64_t PH, int64_t PW, float* xp);

// dyT (P, ld) <- dy (M, P) transposed (columns beyond M untouched).
void transpose_to_pixel_major(const float* dy, int64_t M, int64_t P, float* dyT, int64_t ld);

// dwT (C*KH*KW, M) with row stride ldw += the sum above over `images`
// images: image i reads xp + i*xp_stride and dyT + i*dy_stride (row stride ldy).
void conv_weight_grad(const WeightGradGeom& g, int64_t M, int64_t images, const float* xp,
                      int64_t xp_stride, const float* dyT, int64_t dy_stride, int64_t ldy,
                      float* dwT, int64_t ldw);
// The same sum as plain loops (in double), for tests; also what
// conv_weight_grad runs on a CPU without AVX-512.
void conv_weight_grad_ref(const WeightGradGeom& g, int64_t M, int64_t images, const float* xp,
                          int64_t xp_stride, const float* dyT, int64_t dy_stride, int64_t ldy,
                          float* dwT, int64_t ldw);

}  // namespace taper
