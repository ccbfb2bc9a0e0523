// t-SNE (analysis/tsne.h): P is a symmetric distribution with the requested
// perplexity per row, the KL gradient matches central differences, and
// well-separated clusters stay separated in the embedding.
#include <catch2/catch.hpp>
#include <cmath>

#include "analysis/separability.h"
#include "analysis/tsne.h"
#include "engine/error.h"
#include "engine/rng.h"
#include "support/gradcheck.h"

using namespace taper;

namespace {

std::vector<double> random_points(int n, int d, uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  std::vector<double> x(static_cast<size_t>(n) * d);
  for (double& v : x) v = scale * rng.normal();
  return x;
}

// Points around `clusters` centres spaced `gap` apart along the axes of d-D
// space; labels are the cluster indices.
void clusters(int clusters, int per, int d, double gap, uint64_t seed, std::vector<double>& x,
              std::vector<int64_t>& labels) {
  Rng rng(seed);
  x.clear();
  labels.clear();
  for (int c = 0; c < clusters; ++c)
    for (int i = 0; i < per; ++i) {
      for (int t = 0; t < d; ++t) x.push_back((t == c ? gap : 0.0) + rng.normal());
      labels.push_back(c);
    }
}

}  // namespace

TEST_CASE("t-SNE joint probabilities are symmetric, sum to 1 and hit the perplexity per row") {
  const int n = 40, d = 6;
  const double perplexity = 10.0;
  std::vector<double> x = random_points(n, d, 3);
  std::vector<double> p = tsne_joint_probabilities(x, n, d, perplexity);
  double sum = 0.0;
  for (int i = 0; i < n; ++i) {
    CHECK(p[i * n + i] == 0.0);
    for (int j = 0; j < n; ++j) {
      CHECK(p[i * n + j] >= 0.0);
      CHECK(p[i * n + j] == Approx(p[j * n + i]).margin(1e-15));
      sum += p[i * n + j];
    }
  }
  CHECK(sum == Approx(1.0).margin(1e-12));
  // The conditional rows behind P: H(p_{.|i}) = ln(perplexity) at the found
  // beta, and entropy falls as beta grows (what the bisection relies on).
  std::vector<double> d2(n * n), row(n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0.0;
      for (int t = 0; t < d; ++t) s += (x[i * d + t] - x[j * d + t]) * (x[i * d + t] - x[j * d + t]);
      d2[i * n + j] = s;
    }
  const double h_flat = tsne_conditional_row(d2, 0, 1e-6, row);
  const double h_sharp = tsne_conditional_row(d2, 0, 100.0, row);
  CHECK(h_flat == Approx(std::log(n - 1.0)).epsilon(1e-4));  // beta -> 0: uniform over n-1 points
  CHECK(h_sharp < std::log(perplexity));
  CHECK(h_flat > h_sharp);
}

TEST_CASE("t-SNE rejects too few points for the perplexity") {
  std::vector<double> x = random_points(20, 3, 1);
  CHECK_THROWS_AS(tsne_joint_probabilities(x, 20, 3, 30.0), Error);
}

TEST_CASE("t-SNE gradient matches central differences of KL(P || Q)") {
  const int n = 20, d = 5;
  std::vector<double> p = tsne_joint_probabilities(random_points(n, d, 11), n, d, 5.0);
  for (uint64_t seed : {21u, 22u}) {
    std::vector<double> y = random_points(n, 2, seed, 2.0);
    std::vector<double> grad;
    const double kl = tsne_gradient(p, y, n, grad);
    CHECK(kl == Approx(tsne_kl(p, y, n)));
    CHECK(kl > 0.0);
    testing::check_gradient_double([&](const std::vector<double>& v) { return tsne_kl(p, v, n); }, y, grad,
                                   "t-SNE dKL/dy");
  }
}

TEST_CASE("t-SNE keeps well-separated clusters apart, and the same seed gives the same embedding") {
  std::vector<double> x;
  std::vector<int64_t> labels;
  const int k = 3, per = 40, d = 10;
  clusters(k, per, d, 20.0, 5, x, labels);
  const int n = k * per;
  TsneOptions o;
  o.seed = 7;
  std::vector<double> y = tsne(x, n, d, o);
  REQUIRE(y.size() == static_cast<size_t>(n) * 2);
  CHECK(knn_accuracy(y, labels, n, 2, 5) == 1.0);
  // Every point is nearer to its own cluster's 2-D centroid than to any other.
  std::vector<double> cx(k, 0.0), cy(k, 0.0);
  for (int i = 0; i < n; ++i) cx[labels[i]] += y[2 * i] / per, cy[labels[i]] += y[2 * i + 1] / per;
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < k; ++c) {
      auto dist = [&](int cc) { return std::hypot(y[2 * i] - cx[cc], y[2 * i + 1] - cy[cc]); };
      if (c != labels[i]) CHECK(dist(labels[i]) < dist(c));
    }
  CHECK(tsne(x, n, d, o) == y);
  o.seed = 8;
  CHECK(tsne(x, n, d, o) != y);
}
