// How separable are the classes in a set of feature vectors? Two numbers,
// both computed from n labelled points x (n x d, row-major, double):
//
// k-nearest-neighbour accuracy (leave one out): each point is classified by
// a majority vote of its k nearest other points (Euclidean distance); the
// score is the fraction classified correctly. Ties are broken so that the
// result depends only on the data and the order of the points:
//   - equal distances: the point with the smaller index counts as nearer;
//   - equal votes: of the tied classes, the one whose member ranks nearest
//     (first in the neighbour list ordered as above) wins.
// 1.0 means every point sits among its own class; 1/classes is chance level.
//
// Fisher ratio: tr(S_B) / tr(S_W) with
//   S_B = sum_c n_c (mu_c - mu)(mu_c - mu)^T   (between-class scatter)
//   S_W = sum_i (x_i - mu_{y_i})(x_i - mu_{y_i})^T  (within-class scatter)
// so tr(S_B) = sum_c n_c |mu_c - mu|^2 and tr(S_W) = sum_i |x_i - mu_{y_i}|^2.
// Larger is more separable; it is invariant to scaling x, not to a change of
// basis that stretches dimensions unequally. When tr(S_W) = 0 it is +infinity
// (NaN if tr(S_B) is 0 as well: every point is the same).
#pragma once

#include <cstdint>
#include <vector>

namespace taper {

// Throws Error unless 1 <= k < n and labels has n entries, each >= 0.
double knn_accuracy(const std::vector<double>& x, const std::vector<int64_t>& labels, int n, int d, int k = 5);

// The k nearest other points of point i, nearest first (ties: smaller index first).
std::vector<int> nearest_neighbours(const std::vector<double>& x, int n, int d, int i, int k);

struct FisherTerms {
  double between = 0.0;  // tr(S_B)
  double within = 0.0;   // tr(S_W)
  double ratio = 0.0;    // between / within
};
FisherTerms fisher_ratio(const std::vector<double>& x, const std::vector<int64_t>& labels, int n, int d);

}  // namespace taper
