#include "analysis/separability.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "engine/error.h"

namespace taper {

static void check_points(const std::vector<double>& x, const std::vector<int64_t>& labels, int n, int d) {
  check(n >= 1 && d >= 1 && static_cast<int64_t>(x.size()) == static_cast<int64_t>(n) * d, "separability: ",
        x.size(), " values are not ", n, " points of dimension ", d);
  check(static_cast<int>(labels.size()) == n, "separability: ", labels.size(), " labels for ", n, " points");
  for (int64_t l : labels) check(l >= 0, "separability: negative label ", l);
}

std::vector<int> nearest_neighbours(const std::vector<double>& x, int n, int d, int i, int k) {
  std::vector<std::pair<double, int>> cand;  // (squared distance, index): sorting orders ties by index
  cand.reserve(n - 1);
  for (int j = 0; j < n; ++j) {
    if (j == i) continue;
    double s = 0.0;
    for (int t = 0; t < d; ++t) {
      const double diff = x[static_cast<size_t>(i) * d + t] - x[static_cast<size_t>(j) * d + t];
      s += diff * diff;
    }
    cand.push_back({s, j});
  }
  std::partial_sort(cand.begin(), cand.begin() + k, cand.end());
  std::vector<int> out(k);
  for (int t = 0; t < k; ++t) out[t] = cand[t].second;
  return out;
}

double knn_accuracy(const std::vector<double>& x, const std::vector<int64_t>& labels, int n, int d, int k) {
  check_points(x, labels, n, d);
  check(k >= 1 && k < n, "kNN with k = ", k, " needs 1 <= k < n = ", n, " points");
  int correct = 0;
  for (int i = 0; i < n; ++i) {
    const std::vector<int> nb = nearest_neighbours(x, n, d, i, k);
    std::map<int64_t, int> votes;
    for (int j : nb) ++votes[labels[j]];
    // Most votes wins; among equals, the class met first in nb (the nearest).
    int64_t best = labels[nb[0]];
    for (int j : nb)
      if (votes[labels[j]] > votes[best]) best = labels[j];
    if (best == labels[i]) ++correct;
  }
  return static_cast<double>(correct) / n;
}

FisherTerms fisher_ratio(const std::vector<double>& x, const std::vector<int64_t>& labels, int n, int d) {
  check_points(x, labels, n, d);
  const int64_t classes = *std::max_element(labels.begin(), labels.end()) + 1;
  std::vector<double> mu(d, 0.0), mu_c(static_cast<size_t>(classes) * d, 0.0);
  std::vector<int64_t> count(classes, 0);
  for (int i = 0; i < n; ++i) {
    ++count[labels[i]];
    for (int t = 0; t < d; ++t) {
      mu[t] += x[static_cast<size_t>(i) * d + t];
      mu_c[labels[i] * d + t] += x[static_cast<size_t>(i) * d + t];
    }
  }
  for (int t = 0; t < d; ++t) mu[t] /= n;
  for (int64_t c = 0; c < classes; ++c)
    if (count[c])
      for (int t = 0; t < d; ++t) mu_c[c * d + t] /= count[c];
  FisherTerms f;
  for (int64_t c = 0; c < classes; ++c)
    for (int t = 0; t < d; ++t) f.between += count[c] * (mu_c[c * d + t] - mu[t]) * (mu_c[c * d + t] - mu[t]);
  for (int i = 0; i < n; ++i)
    for (int t = 0; t < d; ++t) {
      const double r = x[static_cast<size_t>(i) * d + t] - mu_c[labels[i] * d + t];
      f.within += r * r;
    }
  if (f.within > 0.0)
    f.ratio = f.between / f.within;
  else
    f.ratio = f.between > 0.0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  return f;
}

}  // namespace taper
