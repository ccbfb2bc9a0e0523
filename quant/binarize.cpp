#include "quant/binarize.h"

#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/parallel.h"
#include "quant/kbit.h"

namespace taper {

static void check_binarize_shape(int64_t rows, int64_t cols) {
  check(rows > 0 && cols > 0, "binarize: weight must have rows > 0 and cols > 0, got (", rows,
        ", ", cols, ")");
}

// s from the row sums r_i: per channel s_i = r_i / cols, per tensor s = (sum_i r_i) / (rows cols).
static void scales_from_row_sums(const std::vector<double>& row_sum, float* scale, int64_t cols,
                                 bool per_tensor) {
  const int64_t rows = static_cast<int64_t>(row_sum.size());  // the vector holds exactly rows
  double total = 0.0;
  for (int64_t i = 0; i < rows; ++i) total += row_sum[i];
  for (int64_t i = 0; i < rows; ++i)
    scale[i] = per_tensor ? static_cast<float>(total / double(rows * cols))
                          : static_cast<float>(row_sum[i] / double(cols));
}

// Wb_ij = s_i * sign(W_ij), sign(0) = +1; s_i = mean_j |W_ij| (or the tensor mean).
void binarize_ref(const float* w, float* wb, float* scale, int64_t rows, int64_t cols,
                  bool per_tensor) {
  check_binarize_shape(rows, cols);
  std::vector<double> row_sum(rows, 0.0);  // (rows) sum_j |W_ij|
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) row_sum[i] += std::fabs(w[i * cols + j]);
  scales_from_row_sums(row_sum, scale, cols, per_tensor);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      wb[i * cols + j] = w[i * cols + j] >= 0.0f ? scale[i] : -scale[i];
}

void binarize(const float* w, float* wb, float* scale, int64_t rows, int64_t cols,
              bool per_tensor) {
  check_binarize_shape(rows, cols);
  const bool parallel = rows * cols >= kQuantParallelMin;
  // (rows) sum_j |W_ij|, one row per thread; kept per calling thread, so a
  // warm training step does not allocate it again.
  // (A thread_local is not captured by a lambda: name it through a reference.)
  thread_local std::vector<double> sums_of_this_thread;
  std::vector<double>& row_sum = sums_of_this_thread;
  row_sum.resize(static_cast<size_t>(rows));
  parallel_for(rows, parallel, [&](int64_t i) {
    const float* wi = w + i * cols;
    double sum = 0.0;
    for (int64_t j = 0; j < cols; ++j) sum += std::fabs(wi[j]);  // in order, as the reference
    row_sum[i] = sum;
  });
  scales_from_row_sums(row_sum, scale, cols, per_tensor);
  parallel_for(rows, parallel, [&](int64_t i) {
    const float* wi = w + i * cols;
    float* bi = wb + i * cols;
    const float s = scale[i];
    for (int64_t j = 0; j < cols; ++j) bi[j] = wi[j] >= 0.0f ? s : -s;
  });
}

void binarize_backward(const float* g, const float* w, float* dw, int64_t n) {
  parallel_for_range(n, n >= kQuantParallelMin, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float gi = g[i];  // loaded unconditionally, so that the loop vectorizes
      dw[i] += std::fabs(w[i]) < 1.0f ? gi : 0.0f;
    }
  });
}

}  // namespace taper
