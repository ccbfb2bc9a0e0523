// Exact t-SNE (van der Maaten & Hinton, "Visualizing Data using t-SNE",
// JMLR 9, 2008): a 2-D embedding of n points that keeps each point's near
// neighbours near. O(n^2) per iteration — meant for the few hundred points of
// a per-layer feature plot (500 points, 1000 iterations: about a second).
//
//   1. Input affinities. For each point i, a Gaussian over the others
//        p_{j|i} = exp(-beta_i |x_i - x_j|^2) / sum_{k != i} exp(-beta_i |x_i - x_k|^2)
//      with the precision beta_i = 1 / (2 sigma_i^2) found by binary search
//      so that the perplexity 2^H(P_i) equals the requested one (30): the
//      entropy in nats H_i = -sum_j p_{j|i} ln p_{j|i} must equal ln(perplexity).
//   2. Symmetrize: p_ij = (p_{j|i} + p_{i|j}) / (2n); sum_ij p_ij = 1.
//   3. Output affinities, a Student-t with one degree of freedom:
//        q_ij = (1 + |y_i - y_j|^2)^-1 / sum_{k != l} (1 + |y_k - y_l|^2)^-1
//   4. Minimize KL(P || Q) = sum_{i != j} p_ij ln(p_ij / q_ij) by gradient
//      descent with
//        dKL/dy_i = 4 sum_j (p_ij - q_ij) (y_i - y_j) (1 + |y_i - y_j|^2)^-1
//      early exaggeration (P times 12 for the first 250 iterations), momentum
//      (0.5, then 0.8), a learning rate of max(n / exaggeration / 4, 50)
//      (Belkina et al. 2019; the paper's fixed 100-200 flings points out of
//      a few hundred apart during exaggeration), and per-coordinate gains (Jacobs 1988: +0.2 when the
//      gradient's sign differs from the last step's, x0.8 otherwise, at least
//      0.01). Y starts from N(0, 1e-4) draws of a seeded Rng and is re-centred
//      after every step (KL is invariant to translation).
//
// All arithmetic is in double.
#pragma once

#include <cstdint>
#include <vector>

namespace taper {

struct TsneOptions {
  double perplexity = 30.0;
  int iterations = 1000;
  double learning_rate = 0.0;  // 0: max(n / exaggeration / 4, 50)
  double exaggeration = 12.0;
  int exaggeration_iterations = 250;  // also when momentum switches
  double initial_momentum = 0.5, final_momentum = 0.8;
  uint64_t seed = 0;
};

// Step 1 and 2: the symmetric joint probabilities P (n x n, row-major, zero
// diagonal) of n points of dimension d (x is n x d, row-major). Throws Error
// unless n > perplexity + 1 (a point needs more neighbours than its
// perplexity) and perplexity >= 1.
std::vector<double> tsne_joint_probabilities(const std::vector<double>& x, int n, int d, double perplexity);

// The conditional distribution p_{.|i} of one row of squared distances
// (dist2[i] ignored) at precision beta; returns its entropy in nats.
double tsne_conditional_row(const std::vector<double>& dist2, int i, double beta, std::vector<double>& p_row);

// KL(P || Q) of the embedding y (n x 2, row-major).
double tsne_kl(const std::vector<double>& p, const std::vector<double>& y, int n);

// dKL/dy (n x 2) at y for fixed P (formula above); returns KL(P || Q) too.
double tsne_gradient(const std::vector<double>& p, const std::vector<double>& y, int n, std::vector<double>& grad);

// The whole method: an n x 2 embedding (row-major) of x (n x d).
std::vector<double> tsne(const std::vector<double>& x, int n, int d, const TsneOptions& options = {});

}  // namespace taper
