#include "quant/act_quant.h"

#include "engine/error.h"
#include "engine/parallel.h"
#include "quant/kbit.h"

namespace taper {

// aq = Q_k(clamp(s, 0, 1)); pass = 0 <= s <= 1.
float act_quantize_ref(float s, int k, bool* pass) {
  if (pass) *pass = s >= 0.0f && s <= 1.0f;
  const float a = std::min(std::max(s, 0.0f), 1.0f);
  return quantize_k_ref(a, k);
}

void act_quantize(const float* s, float* aq, uint8_t* pass, int64_t n, int k) {
  const float steps = quant_steps(k, "act_quantize");
  const bool parallel = n >= kQuantParallelMin;
  parallel_for_range(n, parallel, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) aq[i] = act_quant_value(s[i], steps);
  });
  if (!pass) return;
  parallel_for_range(n, parallel, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) pass[i] = static_cast<uint8_t>(act_quant_passes(s[i]));
  });
}

void act_quantize_backward(const float* g, const uint8_t* pass, float* ds, int64_t n) {
  parallel_for_range(n, n >= kQuantParallelMin, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float gi = g[i];  // loaded unconditionally, so that the loop vectorizes
      ds[i] += pass[i] ? gi : 0.0f;
    }
  });
}

ActQuant::ActQuant(int bits) : bits_(bits) {
  check(bits >= kMinQuantBits && bits <= kMaxQuantBits, "act_quant: activation bits must be ",
        kMinQuantBits, "..", kMaxQuantBits, " (32 bits is a plain ReLU layer), got ", bits);
}

Var& ActQuant::forward(Var& x, Tape& tape) {
  const bool keep = will_record(tape, {&x});
  const int64_t n = x.data.numel();
  out.data.resize(x.data.shape());  // same shape as x
  if (keep) pass_.resize(n);
  act_quantize(x.data.data(), out.data.data(), keep ? pass_.data() : nullptr, n, bits_);
  x_ = &x;
  record(tape, {&x});
  return out;
}

void ActQuant::backward() {
  if (!x_->requires_grad) return;
  act_quantize_backward(out.grad.data(), pass_.data(), x_->grad_buffer().data(), x_->data.numel());
}

}  // namespace taper
