#include "layers/loss.h"

#include <cmath>

#include "engine/error.h"
#include "engine/parallel.h"

namespace taper {

namespace {

void check_logits_labels(const char* what, const Tensor& logits, const std::vector<int64_t>& labels) {
  check(logits.ndim() == 2 && logits.dim(0) >= 1 && logits.dim(1) >= 1, what, ": logits ",
        shape_str(logits.shape()), " are not (N, K) with N, K >= 1");
  const int64_t N = logits.dim(0), K = logits.dim(1);
  check(static_cast<int64_t>(labels.size()) == N, what, ": ", labels.size(),
        " labels for logits ", shape_str(logits.shape()), " (expected ", N, ")");
  for (int64_t n = 0; n < N; ++n)
    check(labels[n] >= 0 && labels[n] < K, what, ": label ", labels[n], " of sample ", n,
          " is out of range for ", K, " classes (expected 0 <= label < ", K, ")");
}

}  // namespace

// Forward, per row n with z = logits[n], m = max_k z_k (subtracted so that no
// exp overflows; the largest term is exp(0) = 1):
//   lse_n   = m + log sum_k exp(z_k - m)          (sum in double)
//   loss_n  = lse_n - z[label]
//   p[n, k] = exp(z_k - lse_n) (the softmax, cached for backward)
//   loss    = (1/N) sum_n loss_n
Var& SoftmaxCrossEntropy::forward(Var& logits, const std::vector<int64_t>& labels, Tape& tape) {
  check_logits_labels("cross_entropy", logits.data, labels);
  const int64_t N = logits.data.dim(0), K = logits.data.dim(1);
  const bool keep = will_record(tape, {&logits});
  if (keep) {
    prob_.resize({N, K});  // (N, K)
    labels_.assign(labels.begin(), labels.end());
  }
  row_loss_.resize(N);  // (N)
  const float* z = logits.data.data();
  float* pp = keep ? prob_.data() : nullptr;
  double* lp = row_loss_.data();
  const int64_t* lab = labels.data();
  parallel_for(N, N * K >= kMinParallelWork, [&](int64_t n) {
    const float* zn = z + n * K;
    float m = zn[0];
    for (int64_t k = 1; k < K; ++k) m = zn[k] > m ? zn[k] : m;
    double sum = 0.0;
    for (int64_t k = 0; k < K; ++k) sum += std::exp(double(zn[k]) - m);
    const double lse = m + std::log(sum);
    lp[n] = lse - zn[lab[n]];
    if (pp)
      for (int64_t k = 0; k < K; ++k) pp[n * K + k] = static_cast<float>(std::exp(zn[k] - lse));
  });
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n) total += lp[n];
  out.data.resize({});  // () one element
  out.data[0] = static_cast<float>(total / N);
  logits_ = &logits;
  record(tape, {&logits});
  return out;
}

// Backward: d loss / d logits[n, k] = (p[n, k] - [k == label_n]) / N, times
// the incoming d L / d loss.
void SoftmaxCrossEntropy::backward() {
  if (!logits_->requires_grad) return;
  const int64_t N = prob_.dim(0), K = prob_.dim(1);
  const float g = out.grad[0] / static_cast<float>(N);
  const float* pp = prob_.data();
  float* dz = logits_->grad_buffer().data();
  parallel_for(N, N * K >= kMinParallelWork, [&](int64_t n) {
    for (int64_t k = 0; k < K; ++k) dz[n * K + k] += g * pp[n * K + k];
    dz[n * K + labels_[n]] -= g;
  });
}

int64_t count_correct(const Tensor& logits, const std::vector<int64_t>& labels) {
  check_logits_labels("count_correct", logits, labels);
  const int64_t N = logits.dim(0), K = logits.dim(1);
  int64_t correct = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float* zn = logits.data() + n * K;
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k)
      if (zn[k] > zn[best]) best = k;
    correct += best == labels[n];
  }
  return correct;
}

}  // namespace taper
