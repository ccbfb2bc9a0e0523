// k-bit weights, 2 <= k <= 8 (DoReFa's tanh quantizer), and WeightQuantizer,
// the op that applies the weight quantizer of a layer's bit width.
//
// Per output channel i, row i = every input weight of channel i (a conv
// weight (OC, IC/groups, KH, KW) has rows = OC, cols = IC/groups*KH*KW; a
// linear weight (OUT, IN) has rows = OUT, cols = IN):
//
//   T = tanh(W),   M_i = max_j |T_ij|,   Wq_ij = 2 Q_k(T_ij / (2 M_i) + 1/2) - 1
//
// Wq lies in [-1, 1] on the 2^k levels 2j/(2^k - 1) - 1, j = 0 .. 2^k - 1.
// At the arg-max element j* of a row, T/(2M) is exactly +-1/2, so
// Wq_ij* = sign(T_ij*) exactly: every nonzero row reaches +1 or -1 there.
// (The opposite end is reached only if some element comes close enough.)
//
// All-zero row (M_i = 0, only when every W_ij is +-0): T/(2M) is taken as 0,
// so the row becomes 2 Q_k(1/2) - 1 = 1/(2^k - 1), the value a zero weight gets
// in any other row (torch_anchor.py's formula would give NaN here). The
// quantizer jumps at such a row, so there is no derivative to follow; the
// gradient through it is defined as zero (the row stays as it is).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/autograd.h"

namespace taper {

// Scalar reference: the formula above, row after row. w, wq (rows, cols).
void weight_quantize_ref(const float* w, float* wq, int64_t rows, int64_t cols, int k);

// Fast forward, bit-identical to weight_quantize_ref (threads over rows for
// large tensors, vectorizable inner loops; tanh is the same std::tanh). It
// also returns what backward needs: t (rows, cols) = T, m (rows) = M_i and
// argmax (rows) = j*, the first j with |T_ij| = M_i. Pass null for all three
// when no backward follows (inference): T is then built in wq in place.
void weight_quantize(const float* w, float* wq, int64_t rows, int64_t cols, int k,
                     float* t = nullptr, float* m = nullptr, int64_t* argmax = nullptr);

// Backward: dw (rows, cols) += dL/dW, given g = dL/dWq (rows, cols) and the
// forward's t, m, argmax. Only the rounding is bypassed (dQ/du = 1), so Wq is
// differentiated as its surrogate 2u - 1 = T_ij / M_i, with u = T/(2M) + 1/2:
//   dWq_ij / dT_il = [j = l] / M_i - T_ij / M_i^2 * dM_i/dT_il,
//   dM_i / dT_il   = sign(T_ij*) if l = j*, else 0,
// which gives, for row i,
//   dL/dT_il  = g_il / M_i                                            (every l)
//            + sign(T_ij*) * sum_j g_ij * (-T_ij / M_i^2)             (l = j* only)
//   dL/dW_il  = dL/dT_il * (1 - T_il^2)                              (tanh' = 1 - tanh^2)
//   M_i = 0:  dL/dW_il = 0 for the whole row (see the top of this file).
void weight_quantize_backward(const float* g, const float* t, const float* m,
                              const int64_t* argmax, float* dw, int64_t rows, int64_t cols);

// The weight quantizer of one layer, as an autograd op: out = Wq(w), same
// shape as w, which must have at least 2 dimensions (rows = dim 0).
//   bits 1      binarize (quant/binarize.h), s per output channel, or per
//               tensor with per_tensor_scale; scale() holds s (rows).
//   bits 2..8   the tanh quantizer above (per_tensor_scale does not apply:
//               these weights carry no scale).
//   bits 32     full precision: out shares w's buffer (no copy); backward
//               still adds out.grad into w.grad.
// Any other bit width throws Error. Wq is computed once per forward, i.e.
// once per training step, into the reused `out` buffer.
class WeightQuantizer : public Op {
 public:
  explicit WeightQuantizer(int bits, bool per_tensor_scale = false);
  Var& forward(Var& w, Tape& tape);
  void backward() override;
  int bits() const { return bits_; }
  bool per_tensor_scale() const { return per_tensor_scale_; }
  // The binarizer's scales s (rows) from the last forward (bits 1 only);
  // deployment folds them into the following batch norm.
  const Tensor& scale() const { return scale_; }
  const char* type() const override { return "weight_quant"; }

 private:
  int bits_;
  bool per_tensor_scale_;
  Var* w_ = nullptr;  // the weight; bits 1 recomputes the mask 1{|W| < 1} from it
  // Cached by a recorded forward for backward (bits 2..8 only):
  Tensor t_;                    // (rows, cols) T = tanh(W), for 1/M, T/M^2 and 1 - T^2
  Tensor m_;                    // (rows) M_i = max_j |T_ij|
  std::vector<int64_t> argmax_; // (rows) j*, where dM_i/dT_ij* = sign(T_ij*) goes
  Tensor scale_;                // (rows) binarizer scales s_i (bits 1)
  // Evaluation reuses the last result when the weights are unchanged (an
  // inference loop quantizes once, not once per batch): the key is an exact
  // copy of the weights that produced `out`, compared with memcmp, so any
  // change — an optimizer step, a load, a test perturbing one element —
  // requantizes. Training forwards always quantize (the weights just moved).
  Tensor cached_w_;             // same shape as W; empty when out is not reusable
};

}  // namespace taper
