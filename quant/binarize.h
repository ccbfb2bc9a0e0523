// 1-bit weights (binarization, the k = 1 case of the weight quantizer).
//
//   Wb_ij = s_i * sign(W_ij),   sign(0) = +1 (also for -0.0),
//   s_i   = mean_j |W_ij|        per output channel i (row i), or
//   s     = mean_ij |W_ij|       over the whole tensor (per_tensor = true).
//
// Rows are output channels: W (OC, IC/groups, KH, KW) has rows = OC and
// cols = IC/groups*KH*KW; a linear W (OUT, IN) has cols = IN.
// The means are summed in double: each row in order j = 0, 1, ..., and the
// tensor mean as the sum of the row sums in row order, divided by rows*cols;
// the result is rounded to float once. (PyTorch sums in float32 in another
// order, so s can differ from torch_anchor.py's in the last bit.)
//
// Backward, straight-through with the hard-tanh window (g = dL/dWb):
//   dL/dW_ij = g_ij   if |W_ij| < 1
//   dL/dW_ij = 0      if |W_ij| >= 1
// The scale gets no gradient and does not multiply the gradient.
#pragma once

#include <cstdint>

namespace taper {

// Scalar reference. w, wb (rows, cols); scale (rows) receives s_i (with
// per_tensor, the same s in every row).
void binarize_ref(const float* w, float* wb, float* scale, int64_t rows, int64_t cols,
                  bool per_tensor);

// Fast version: threads over rows for large tensors, vectorizable inner loops.
// Bit-identical to binarize_ref (same sums in the same order per row).
void binarize(const float* w, float* wb, float* scale, int64_t rows, int64_t cols,
              bool per_tensor);

// dw += g * 1{|w| < 1}, elementwise over n values (the STE mask is
// recomputed from w, which backward still has).
void binarize_backward(const float* g, const float* w, float* dw, int64_t n);

}  // namespace taper
