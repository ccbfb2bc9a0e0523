#include "quant/weight_quant.h"

#include <cstring>

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/parallel.h"
#include "quant/binarize.h"
#include "quant/kbit.h"

namespace taper {

static float weight_steps(int k, int64_t rows, int64_t cols) {
  check(rows >= 0 && cols > 0, "weight_quantize: expected rows >= 0 and cols > 0, got (", rows,
        ", ", cols, ")");
  check(k >= 2 && k <= kMaxQuantBits, "weight_quantize: the tanh quantizer takes 2..",
        kMaxQuantBits, " bits (1 bit is the binarizer), got ", k);
  return quant_steps(k, "weight_quantize");
}

// T = tanh(W), M_i = max_j |T_ij|, Wq_ij = 2 Q_k(T_ij / (2 M_i) + 1/2) - 1;
// T/(2M) := 0 when M_i = 0.
void weight_quantize_ref(const float* w, float* wq, int64_t rows, int64_t cols, int k) {
  weight_steps(k, rows, cols);
  for (int64_t i = 0; i < rows; ++i) {
    const float* wi = w + i * cols;
    float M = 0.0f;
    for (int64_t j = 0; j < cols; ++j) M = std::max(M, std::fabs(std::tanh(wi[j])));
    for (int64_t j = 0; j < cols; ++j) {
      const float half = M > 0.0f ? std::tanh(wi[j]) / (2.0f * M) : 0.0f;  // in [-1/2, 1/2]
      wq[i * cols + j] = 2.0f * quantize_k_ref(half + 0.5f, k) - 1.0f;
    }
  }
}

void weight_quantize(const float* w, float* wq, int64_t rows, int64_t cols, int k, float* t,
                     float* m, int64_t* argmax) {
  const float n = weight_steps(k, rows, cols);
  float* tt = t ? t : wq;  // (rows, cols) T: kept for backward, or in wq and overwritten
  parallel_for(rows, rows * cols >= kQuantParallelMin, [&](int64_t i) {
    const float* wi = w + i * cols;
    float* ti = tt + i * cols;
    float* qi = wq + i * cols;
    for (int64_t j = 0; j < cols; ++j) ti[j] = std::tanh(wi[j]);
    float M = 0.0f;  // a max is exact, so the vector order gives the reference's value
#pragma omp simd reduction(max : M)
    for (int64_t j = 0; j < cols; ++j) M = std::max(M, std::fabs(ti[j]));
    if (m) m[i] = M;
    if (argmax) {  // the first j with |T_ij| = M_i
      int64_t a = 0;
      while (a + 1 < cols && std::fabs(ti[a]) != M) ++a;
      argmax[i] = a;
    }
    if (M > 0.0f) {
      const float two_m = 2.0f * M;  // a division, as in the reference, not a reciprocal
      for (int64_t j = 0; j < cols; ++j) qi[j] = 2.0f * quantize_steps(ti[j] / two_m + 0.5f, n) - 1.0f;
    } else {
      const float zero_row = 2.0f * quantize_steps(0.0f + 0.5f, n) - 1.0f;
      for (int64_t j = 0; j < cols; ++j) qi[j] = zero_row;
    }
  });
}

// Derivative cases: see weight_quant.h. The row sum sum_j g_ij T_ij is
// accumulated in double, in order.
void weight_quantize_backward(const float* g, const float* t, const float* m,
                              const int64_t* argmax, float* dw, int64_t rows, int64_t cols) {
  parallel_for(rows, rows * cols >= kQuantParallelMin, [&](int64_t i) {
    const float M = m[i];
    if (M == 0.0f) return;  // all-zero row: zero gradient by definition
    const float* gi = g + i * cols;
    const float* ti = t + i * cols;
    float* dwi = dw + i * cols;
    // Every element: dL/dT = g / M through the division.
    for (int64_t j = 0; j < cols; ++j) dwi[j] += gi[j] / M * (1.0f - ti[j] * ti[j]);
    // The arg-max element also carries M's dependence on it.
    double gt = 0.0;  // sum_j g_ij T_ij
    for (int64_t j = 0; j < cols; ++j) gt += double(gi[j]) * ti[j];
    const int64_t a = argmax[i];
    const double sign = ti[a] > 0.0f ? 1.0 : -1.0;
    const double dm = sign * (-gt / (double(M) * M));
    dwi[a] += static_cast<float>(dm * (1.0 - double(ti[a]) * ti[a]));
  });
}

WeightQuantizer::WeightQuantizer(int bits, bool per_tensor_scale)
    : bits_(bits), per_tensor_scale_(per_tensor_scale) {
  check(bits == 32 || (bits >= 1 && bits <= kMaxQuantBits),
        "weight_quant: weight bits must be 1 (binary), 2..", kMaxQuantBits,
        " or 32 (full precision), got ", bits);
}

Var& WeightQuantizer::forward(Var& w, Tape& tape) {
  check(w.data.ndim() >= 2 && w.data.numel() > 0,
        "weight_quant: expected a non-empty weight (OC, ...) with at least 2 dimensions, got ",
        shape_str(w.data.shape()));
  const int64_t rows = w.data.dim(0), cols = w.data.numel() / rows;
  const bool keep = will_record(tape, {&w});
  w_ = &w;
  if (bits_ != 32 && !keep && cached_w_.same_shape(w.data) &&
      std::memcmp(cached_w_.data(), w.data.data(), sizeof(float) * w.data.numel()) == 0) {
    record(tape, {&w});  // records nothing: the tape is not recording or w needs no gradient
    return out;
  }
  cached_w_ = Tensor();
  if (bits_ == 32) {
    out.data = w.data;  // shares the buffer: full precision costs no copy
  } else if (bits_ == 1) {
    out.data.resize(w.data.shape());  // same shape as W
    scale_.resize({rows});
    binarize(w.data.data(), out.data.data(), scale_.data(), rows, cols, per_tensor_scale_);
  } else {
    out.data.resize(w.data.shape());  // same shape as W
    if (keep) {
      t_.resize(w.data.shape());
      m_.resize({rows});
      argmax_.resize(rows);
      weight_quantize(w.data.data(), out.data.data(), rows, cols, bits_, t_.data(), m_.data(),
                      argmax_.data());
    } else {
      weight_quantize(w.data.data(), out.data.data(), rows, cols, bits_);
    }
  }
  if (bits_ != 32 && !keep) cached_w_.copy_from(w.data);
  record(tape, {&w});
  return out;
}

void WeightQuantizer::backward() {
  if (!w_->requires_grad) return;
  const Tensor& g = out.grad;  // (same shape as W) dL/dWq
  Tensor& dw = w_->grad_buffer();
  const int64_t rows = dw.dim(0), cols = dw.numel() / rows;
  if (bits_ == 32) {
    dw.vec() += g.vec();  // identity
  } else if (bits_ == 1) {
    binarize_backward(g.data(), w_->data.data(), dw.data(), dw.numel());
  } else {
    weight_quantize_backward(g.data(), t_.data(), m_.data(), argmax_.data(), dw.data(), rows, cols);
  }
}

}  // namespace taper
