#include "analysis/tsne.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"
#include "engine/rng.h"

namespace taper {

namespace {

constexpr double kMinProbability = 1e-12;  // floor on p_ij and q_ij inside ln()
constexpr double kEntropyTolerance = 1e-5;  // |H_i - ln(perplexity)| at which the search stops
constexpr int kSearchSteps = 200;           // binary-search steps on beta_i (never reached in practice)

// |a_i - a_j|^2 for all pairs of n rows of dimension d: (n x n).
std::vector<double> squared_distances(const std::vector<double>& a, int n, int d) {
  std::vector<double> d2(static_cast<size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      double s = 0.0;
      for (int k = 0; k < d; ++k) {
        const double t = a[static_cast<size_t>(i) * d + k] - a[static_cast<size_t>(j) * d + k];
        s += t * t;
      }
      d2[static_cast<size_t>(i) * n + j] = d2[static_cast<size_t>(j) * n + i] = s;
    }
  return d2;
}

}  // namespace

double tsne_conditional_row(const std::vector<double>& dist2, int i, double beta, std::vector<double>& p_row) {
  const int n = static_cast<int>(p_row.size());
  const double* row = dist2.data() + static_cast<size_t>(i) * n;
  // Subtracting the smallest distance leaves p unchanged and keeps exp() from
  // underflowing for far-apart points.
  double dmin = std::numeric_limits<double>::infinity();
  for (int j = 0; j < n; ++j)
    if (j != i) dmin = std::min(dmin, row[j]);
  double sum = 0.0;
  for (int j = 0; j < n; ++j) {
    p_row[j] = j == i ? 0.0 : std::exp(-beta * (row[j] - dmin));
    sum += p_row[j];
  }
  // H = -sum_j p_j ln p_j = ln(sum) + beta * sum_j p_j (d_j - dmin)
  double expected = 0.0;
  for (int j = 0; j < n; ++j) {
    p_row[j] /= sum;
    if (j != i) expected += p_row[j] * (row[j] - dmin);
  }
  return std::log(sum) + beta * expected;
}

std::vector<double> tsne_joint_probabilities(const std::vector<double>& x, int n, int d, double perplexity) {
  check(perplexity >= 1.0, "t-SNE perplexity ", perplexity, ": expected at least 1");
  check(n > perplexity + 1.0, "t-SNE of ", n, " points with perplexity ", perplexity,
        ": needs more than perplexity + 1 points (take more samples or a smaller perplexity)");
  check(static_cast<int64_t>(x.size()) == static_cast<int64_t>(n) * d, "t-SNE: ", x.size(),
        " values are not ", n, " points of dimension ", d);
  const std::vector<double> dist2 = squared_distances(x, n, d);
  const double target = std::log(perplexity);  // entropy in nats
  std::vector<double> cond(static_cast<size_t>(n) * n);  // p_{j|i}, row i
  std::vector<double> row(n);
  for (int i = 0; i < n; ++i) {
    // H(beta) falls as beta grows: bisect on beta, doubling the upper end
    // until it is bracketed.
    double beta = 1.0, lo = 0.0, hi = std::numeric_limits<double>::infinity();
    // Scale the start by the mean squared distance so the search starts near.
    double mean = 0.0;
    for (int j = 0; j < n; ++j) mean += dist2[static_cast<size_t>(i) * n + j];
    mean /= (n - 1);
    if (mean > 0.0) beta = 1.0 / mean;
    for (int step = 0; step < kSearchSteps; ++step) {
      const double h = tsne_conditional_row(dist2, i, beta, row);
      if (std::fabs(h - target) < kEntropyTolerance) break;
      if (h > target) {  // too flat: sharpen
        lo = beta;
        beta = std::isinf(hi) ? beta * 2.0 : (beta + hi) / 2.0;
      } else {
        hi = beta;
        beta = (beta + lo) / 2.0;
      }
    }
    tsne_conditional_row(dist2, i, beta, row);
    std::copy(row.begin(), row.end(), cond.begin() + static_cast<size_t>(i) * n);
  }
  std::vector<double> p(static_cast<size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      if (i != j)
        p[static_cast<size_t>(i) * n + j] =
            (cond[static_cast<size_t>(i) * n + j] + cond[static_cast<size_t>(j) * n + i]) / (2.0 * n);
  return p;
}

double tsne_gradient(const std::vector<double>& p, const std::vector<double>& y, int n, std::vector<double>& grad) {
  // num_ij = (1 + |y_i - y_j|^2)^-1, Z = sum_{k != l} num_kl, q_ij = num_ij / Z
  std::vector<double> num = squared_distances(y, n, 2);
  double z = 0.0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      double& v = num[static_cast<size_t>(i) * n + j];
      v = i == j ? 0.0 : 1.0 / (1.0 + v);
      z += v;
    }
  grad.assign(static_cast<size_t>(n) * 2, 0.0);
  double kl = 0.0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      if (i == j) continue;
      const size_t ij = static_cast<size_t>(i) * n + j;
      const double q = num[ij] / z;
      // 4 (p_ij - q_ij) (y_i - y_j) (1 + |y_i - y_j|^2)^-1
      const double m = 4.0 * (p[ij] - q) * num[ij];
      grad[2 * i] += m * (y[2 * i] - y[2 * j]);
      grad[2 * i + 1] += m * (y[2 * i + 1] - y[2 * j + 1]);
      if (p[ij] > 0.0) kl += p[ij] * std::log(std::max(p[ij], kMinProbability) / std::max(q, kMinProbability));
    }
  return kl;
}

double tsne_kl(const std::vector<double>& p, const std::vector<double>& y, int n) {
  std::vector<double> unused;
  return tsne_gradient(p, y, n, unused);
}

std::vector<double> tsne(const std::vector<double>& x, int n, int d, const TsneOptions& o) {
  check(o.iterations >= 1 && o.learning_rate >= 0.0 && o.exaggeration >= 1.0, "t-SNE: bad options");
  const double learning_rate = o.learning_rate > 0.0 ? o.learning_rate : std::max(n / o.exaggeration / 4.0, 50.0);
  std::vector<double> p = tsne_joint_probabilities(x, n, d, o.perplexity);
  Rng rng(o.seed);
  std::vector<double> y(static_cast<size_t>(n) * 2);
  for (double& v : y) v = 1e-2 * rng.normal();  // N(0, 1e-4)
  std::vector<double> update(y.size(), 0.0), gains(y.size(), 1.0), grad;
  std::vector<double> exaggerated(p.size());
  for (size_t k = 0; k < p.size(); ++k) exaggerated[k] = p[k] * o.exaggeration;
  for (int it = 0; it < o.iterations; ++it) {
    const bool early = it < o.exaggeration_iterations;
    tsne_gradient(early ? exaggerated : p, y, n, grad);
    const double momentum = early ? o.initial_momentum : o.final_momentum;
    for (size_t k = 0; k < y.size(); ++k) {
      // Gains grow where the gradient keeps pointing against the last step
      // (update = -lr * gain * grad), and shrink where it flips.
      const bool same_direction = (grad[k] > 0.0) == (update[k] > 0.0);
      gains[k] = same_direction ? gains[k] * 0.8 : gains[k] + 0.2;
      gains[k] = std::max(gains[k], 0.01);
      update[k] = momentum * update[k] - learning_rate * gains[k] * grad[k];
      y[k] += update[k];
    }
    double cx = 0.0, cy = 0.0;
    for (int i = 0; i < n; ++i) cx += y[2 * i], cy += y[2 * i + 1];
    for (int i = 0; i < n; ++i) y[2 * i] -= cx / n, y[2 * i + 1] -= cy / n;
  }
  return y;
}

}  // namespace taper
