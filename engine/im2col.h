// im2col / col2im — unrolling convolution windows into a matrix, and back.
//
// A 2-D convolution of a (C, H, W) image with a (KH, KW) kernel, stride
// (SH, SW) and zero padding (PH, PW) gives an (OH, OW) output. im2col writes
// the matrix `col` of shape (C*KH*KW, OH*OW):
//
//   col[(c*KH + kh)*KW + kw][oh*OW + ow] = x[c][oh*SH - PH + kh][ow*SW - PW + kw]
//
// (zero where the index falls into the padding), so the convolution becomes
// one matrix product: y (OC, OH*OW) = W (OC, C*KH*KW) * col. The rows of a
// channel group are contiguous, which is what grouped convolution needs.
//
// col2im_add is im2col's adjoint: every entry of col is added back into the
// pixel im2col copied it from. It ADDS into x (the accumulate rule), which is
// exactly what backward-data needs: dx += col2im(W^T dy).
//
// `ldcol` is the row stride of col (>= OH*OW), so several images' columns can
// sit side by side in one wider matrix.
#pragma once

#include <cstdint>

namespace taper {

struct ConvGeom {
  int64_t C, H, W;         // input image (C, H, W)
  int64_t KH, KW;          // kernel
  int64_t SH, SW, PH, PW;  // stride, zero padding
  int64_t OH, OW;          // output (OH, OW)
  int64_t col_rows() const { return C * KH * KW; }
  int64_t col_cols() const { return OH * OW; }
};

// x (C, H, W) -> col (C*KH*KW, OH*OW) with row stride ldcol.
void im2col(const ConvGeom& g, const float* x, float* col, int64_t ldcol);

// x (C, H, W) += col2im(col), col (C*KH*KW, OH*OW) with row stride ldcol.
void col2im_add(const ConvGeom& g, const float* col, int64_t ldcol, float* x);

}  // namespace taper
