#include <algorithm>
#include <catch2/catch.hpp>

#include "data/split.h"
#include "data_fixtures.h"
#include "engine/error.h"

using namespace taper;
using namespace taper::testing;

namespace {

// n samples whose label is their index, so every sample can be traced.
Dataset traced(int64_t n) { return random_dataset(n, 2, 3, 3, n, 70); }

}  // namespace

TEST_CASE("split: sizes, disjoint parts that cover the set, pixels follow labels") {
  Dataset all = traced(200);
  Dataset train, val;
  split_validation(all, 0.1, 5, train, val);
  CHECK(val.n == 20);
  CHECK(train.n == 180);
  CHECK(train.classes == all.classes);
  CHECK(val.channels == 2);
  CHECK(static_cast<int64_t>(val.pixels.size()) == 20 * all.sample_size());

  std::vector<int64_t> seen(train.labels);
  seen.insert(seen.end(), val.labels.begin(), val.labels.end());
  std::sort(seen.begin(), seen.end());
  for (int64_t i = 0; i < 200; ++i) CHECK(seen[i] == i);  // each sample exactly once
  // Both parts keep the original order.
  CHECK(std::is_sorted(train.labels.begin(), train.labels.end()));
  CHECK(std::is_sorted(val.labels.begin(), val.labels.end()));
  // The validation part is not just the head or the tail of the set.
  CHECK(val.labels.front() < 180);
  CHECK(val.labels.back() >= 20);
  for (int64_t k = 0; k < val.n; ++k) {
    const int64_t i = val.labels[k];
    CHECK(std::equal(val.image(k), val.image(k) + all.sample_size(), all.image(i)));
  }
}

TEST_CASE("split: the same seed gives the same split, another seed another") {
  Dataset all = traced(100);
  Dataset t1, v1, t2, v2, t3, v3;
  split_validation(all, 0.25, 9, t1, v1);
  split_validation(all, 0.25, 9, t2, v2);
  split_validation(all, 0.25, 10, t3, v3);
  CHECK(v1.labels == v2.labels);
  CHECK(t1.labels == t2.labels);
  CHECK(v1.pixels == v2.pixels);
  CHECK(v1.n == 25);
  CHECK(v1.labels != v3.labels);
}

TEST_CASE("split: fraction 0 gives an empty validation set; bad fractions are errors") {
  Dataset all = traced(10);
  Dataset train, val;
  split_validation(all, 0.0, 1, train, val);
  CHECK(val.n == 0);
  CHECK(val.pixels.empty());
  CHECK(val.channels == 2);
  CHECK(train.n == 10);
  CHECK(train.pixels == all.pixels);
  CHECK(train.labels == all.labels);
  // Rounding never takes every sample: 0.99 of 10 would round to 10, train keeps 1.
  split_validation(all, 0.99, 1, train, val);
  CHECK(val.n == 9);
  CHECK(train.n == 1);
  CHECK_THROWS_WITH(split_validation(all, 1.0, 1, train, val),
                    Catch::Contains("validation fraction 1") && Catch::Contains("[0, 1)"));
  CHECK_THROWS_WITH(split_validation(all, -0.1, 1, train, val), Catch::Contains("[0, 1)"));
}

TEST_CASE("split: the input may be one of the outputs") {
  Dataset all = traced(50);
  Dataset copy = all, val;
  split_validation(copy, 0.2, 3, copy, val);
  Dataset t_ref, v_ref;
  split_validation(all, 0.2, 3, t_ref, v_ref);
  CHECK(copy.labels == t_ref.labels);
  CHECK(val.labels == v_ref.labels);
}
