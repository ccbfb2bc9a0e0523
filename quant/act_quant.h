// k-bit activations, 1 <= k <= 8 (DoReFa), and ActQuant, the op.
//
//   a = clamp(s, 0, 1),   aq = Q_k(a)             (Q_k: quant/kbit.h)
//
// Backward, straight-through inside the clamp window (g = dL/daq):
//   dL/ds = g   if 0 <= s <= 1   (both ends included, as PyTorch's clamp)
//   dL/ds = 0   if s < 0 or s > 1
// With 32 bits the activation is a plain ReLU; model builders use the ReLU
// layer then, not this op.
//
// The formula and its mask are written once, as the two inline functions
// below. Every loop that quantizes activations calls them: act_quantize here
// and the batch norm that computes its following activation in the same pass
// (layers/batchnorm.cpp, "fused activation"), so the two paths give the same
// bits by construction, not by keeping two copies in step.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/autograd.h"
#include "quant/kbit.h"

namespace taper {

// The activation code p = nearbyint(steps clamp(s, 0, 1)), 0..steps, with
// steps = 2^k - 1 (quant_steps(k)); aq = Q_k(clamp(s, 0, 1)) = p / steps.
inline float act_quant_code(float s, float steps) {
  return quantize_code(std::min(std::max(s, 0.0f), 1.0f), steps);
}
inline float act_quant_value(float s, float steps) {
  return quantize_steps(std::min(std::max(s, 0.0f), 1.0f), steps);
}
// The straight-through mask: the gradient passes where 0 <= s <= 1.
inline bool act_quant_passes(float s) { return (s >= 0.0f) & (s <= 1.0f); }

// Scalar reference: returns aq and sets *pass to the STE mask 0 <= s <= 1
// (pass may be null).
float act_quantize_ref(float s, int k, bool* pass);

// Fast version over n values, bit-identical to act_quantize_ref (vectorized,
// threads for large buffers). pass (n), if not null, receives the mask as 0/1.
void act_quantize(const float* s, float* aq, uint8_t* pass, int64_t n, int k);

// ds += g * pass, elementwise over n values.
void act_quantize_backward(const float* g, const uint8_t* pass, float* ds, int64_t n);

// The activation quantizer as an autograd op: out = Q_k(clamp(x, 0, 1)),
// same shape as x (any shape, e.g. (N, C, H, W) or (N, F)).
// bits must be 1..8 (Error otherwise).
class ActQuant : public Op {
 public:
  explicit ActQuant(int bits);
  Var& forward(Var& x, Tape& tape);
  void backward() override;
  int bits() const { return bits_; }
  const char* type() const override { return "act_quant"; }
  // Backward: multiplies by the cached pass mask.
  bool backward_reads_input(int) const override { return false; }

 private:
  int bits_;
  Var* x_ = nullptr;
  // Cached by a recorded forward: the STE mask 1{0 <= x <= 1}, one byte per
  // element of x (the forward returns it, so backward needs neither x nor a
  // second pass over it).
  std::vector<uint8_t> pass_;
};

}  // namespace taper
