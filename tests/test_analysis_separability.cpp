// kNN accuracy and Fisher ratio (analysis/separability.h) on hand-made data
// whose answers are worked out in the comments.
#include <catch2/catch.hpp>
#include <cmath>

#include "analysis/separability.h"
#include "engine/error.h"

using namespace taper;

TEST_CASE("kNN accuracy, k = 3, with a distance tie broken by the smaller index") {
  // 1-D points (index: value label): 0: 0 a, 1: 1 a, 2: 2 a, 3: 10 b, 4: 11 b,
  // 5: 12 b, 6: 6 b.
  //   0, 1, 2: their 3 nearest are the other two a's and point 6 -> a, right.
  //   3, 4, 5: the other two b's and point 6 -> b, right.
  //   6 (value 6): distance 4 to points 2 (a) and 3 (b), distance 5 to
  //     points 1 (a) and 4 (b); the tie at 5 goes to the smaller index 1, so
  //     the neighbours are 2, 3, 1 = a, b, a -> a, wrong.
  // Accuracy 6/7. (Had the tie gone to point 4, it would be 7/7.)
  std::vector<double> x = {0, 1, 2, 10, 11, 12, 6};
  std::vector<int64_t> y = {0, 0, 0, 1, 1, 1, 1};
  CHECK(nearest_neighbours(x, 7, 1, 6, 3) == std::vector<int>{2, 3, 1});
  CHECK(knn_accuracy(x, y, 7, 1, 3) == Approx(6.0 / 7.0));
}

TEST_CASE("kNN accuracy, k = 2, with vote ties going to the nearest neighbour's class") {
  // Points 0: 0 (class 0), 1: 1 (class 1), 2: -2 (class 2), 3: 5 (class 1).
  //   0: neighbours 1 (d 1, class 1), 2 (d 2, class 2): tie, nearest is class 1 -> wrong.
  //   1: neighbours 0 (d 1, class 0), 2 (d 3, class 2): tie -> class 0, wrong.
  //   2: neighbours 0 (d 2, class 0), 1 (d 3, class 1): tie -> class 0, wrong.
  //   3: neighbours 1 (d 4, class 1), 0 (d 5, class 0): tie -> class 1, right.
  // Accuracy 1/4.
  std::vector<double> x = {0, 1, -2, 5};
  std::vector<int64_t> y = {0, 1, 2, 1};
  CHECK(knn_accuracy(x, y, 4, 1, 2) == Approx(0.25));
}

TEST_CASE("kNN accuracy, k = 5, in 2-D: two far clusters are perfect, a swapped label is missed") {
  // Class 0 around (0, 0), class 1 around (100, 100), 6 points each: every
  // point's 5 nearest are the other 5 of its cluster -> 12/12. Relabel one
  // point of cluster 0 as class 1: that point sees 5 class-0 neighbours
  // (wrong), and the others still see 4 or 5 of class 0 -> 11/12.
  std::vector<double> x;
  std::vector<int64_t> y;
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 6; ++i) {
      x.push_back(100.0 * c + i);
      x.push_back(100.0 * c + (i % 2));
      y.push_back(c);
    }
  CHECK(knn_accuracy(x, y, 12, 2) == 1.0);
  y[0] = 1;
  CHECK(knn_accuracy(x, y, 12, 2) == Approx(11.0 / 12.0));
}

TEST_CASE("kNN accuracy checks its inputs") {
  std::vector<double> x = {0, 1, 2};
  std::vector<int64_t> y = {0, 1, 0};
  CHECK_THROWS_AS(knn_accuracy(x, y, 3, 1, 3), Error);  // k must be < n
  CHECK_THROWS_AS(knn_accuracy(x, {0, 1}, 3, 1, 1), Error);
  CHECK_THROWS_AS(knn_accuracy(x, y, 2, 2, 1), Error);  // 3 values are not 2 points of dimension 2
}

TEST_CASE("Fisher ratio on hand-made 2-D data") {
  // Class 0: (0,0), (2,0); class 1: (0,4), (2,4). mu = (1,2), mu_0 = (1,0),
  // mu_1 = (1,4). tr S_B = 2*4 + 2*4 = 16; tr S_W = 4 * 1 = 4; ratio 4.
  FisherTerms f = fisher_ratio({0, 0, 2, 0, 0, 4, 2, 4}, {0, 0, 1, 1}, 4, 2);
  CHECK(f.between == Approx(16.0));
  CHECK(f.within == Approx(4.0));
  CHECK(f.ratio == Approx(4.0));
  // Unequal classes: class 0: (0,0), (2,0), (1,3) (mu_0 = (1,1)); class 1:
  // (4,4). mu = (7/4, 7/4). tr S_B = 3 * 2 * (3/4)^2 + 1 * 2 * (9/4)^2 =
  // 3.375 + 10.125 = 13.5; tr S_W = 2 + 2 + 4 + 0 = 8; ratio 1.6875.
  f = fisher_ratio({0, 0, 2, 0, 1, 3, 4, 4}, {0, 0, 0, 1}, 4, 2);
  CHECK(f.between == Approx(13.5));
  CHECK(f.within == Approx(8.0));
  CHECK(f.ratio == Approx(1.6875));
  // Scaling every feature by 3 leaves the ratio unchanged.
  CHECK(fisher_ratio({0, 0, 6, 0, 3, 9, 12, 12}, {0, 0, 0, 1}, 4, 2).ratio == Approx(1.6875));
  // No within-class spread: infinite; all points equal: not a number.
  CHECK(std::isinf(fisher_ratio({0, 0, 1, 1}, {0, 0, 1, 1}, 4, 1).ratio));
  CHECK(std::isnan(fisher_ratio({1, 1, 1, 1}, {0, 0, 1, 1}, 4, 1).ratio));
}
