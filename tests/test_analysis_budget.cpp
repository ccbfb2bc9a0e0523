// Bit allocation under a size budget (analysis/budget.h): the branch and
// bound equals brute force on random instances, and the byte table is
// quant/size.h's weight_bytes.
#include <catch2/catch.hpp>

#include "analysis/budget.h"
#include "engine/rng.h"
#include "models/model_spec.h"
#include "models/size.h"

using namespace taper;

TEST_CASE("allocation on a hand-made instance") {
  // Two stages of 8 and 16 params: bytes at b bits are b and 2b. Fixed 10.
  // Costs: stage 1 {1: 5, 2: 2, 4: 1, 8: 0}, stage 2 {1: 3, 2: 1, 4: 0.5, 8: 0}.
  // Budget 10 + 12: (b1, b2) with b1 + 2 b2 <= 12: (8, 2) costs 1, (4, 4)
  // costs 1.5, (2, 4) 2.5, (8, 1) 3 -> (8, 2) with 8 + 4 = 12 bytes.
  BudgetProblem p;
  p.bytes = {{1, 2, 4, 8}, {2, 4, 8, 16}};
  p.cost = {{5, 2, 1, 0}, {3, 1, 0.5, 0}};
  p.fixed_bytes = 10;
  p.budget = 22;
  Allocation a = allocate_bits(p);
  REQUIRE(a.feasible);
  CHECK(a.bits == std::vector<int>{8, 2});
  CHECK(a.bytes == 22);
  CHECK(a.cost == 1.0);
  p.budget = 12;  // only (1, 1) fits: 10 + 1 + 2 = 13 > 12 -> nothing
  CHECK_FALSE(allocate_bits(p).feasible);
  p.budget = 13;
  CHECK(allocate_bits(p).bits == std::vector<int>{1, 1});
}

TEST_CASE("branch and bound equals brute force on random instances") {
  Rng rng(2026);
  for (int trial = 0; trial < 400; ++trial) {
    BudgetProblem p;
    const int S = 1 + static_cast<int>(rng.below(7));
    const bool integer_costs = trial % 2 == 0;  // many exact ties
    int64_t max_bytes = 0;
    for (int s = 0; s < S; ++s) {
      const int64_t params = 1 + rng.below(5000);
      std::vector<int64_t> b;
      std::vector<double> c;
      double prev = 0.0;
      for (int w : p.widths) b.push_back((params * w + 7) / 8);
      // Costs usually fall with more bits, but not always (measured numbers are noisy).
      for (size_t o = 0; o < p.widths.size(); ++o) {
        double v = integer_costs ? static_cast<double>(rng.below(4)) : rng.uniform(-0.1f, 2.0f);
        c.push_back(o == 0 ? v + 1.0 : (rng.below(4) == 0 ? v : std::min(prev, v)));
        prev = c.back();
      }
      max_bytes += b.back();
      p.bytes.push_back(b);
      p.cost.push_back(c);
    }
    p.fixed_bytes = static_cast<int64_t>(rng.below(1000));
    p.budget = p.fixed_bytes + static_cast<int64_t>(rng.below(static_cast<uint64_t>(max_bytes) + 1)) -
               static_cast<int64_t>(rng.below(50));
    INFO("trial " << trial << ", " << S << " stages, budget " << p.budget);
    Allocation fast = allocate_bits(p), slow = allocate_brute_force(p);
    REQUIRE(fast.feasible == slow.feasible);
    if (!slow.feasible) continue;
    CHECK(fast.option == slow.option);
    CHECK(fast.bits == slow.bits);
    CHECK(fast.cost == slow.cost);
    CHECK(fast.bytes == slow.bytes);
    CHECK(fast.bytes <= p.budget);
  }
}

TEST_CASE("the byte table of a model is quant/size.h's weight_bytes") {
  const ModelSpec spec = load_model_file(std::string(TAPER_SOURCE_DIR) + "/models/vgg7-fmnist.json");
  const ModelSpec res = load_model_file(std::string(TAPER_SOURCE_DIR) + "/models/resnet20.json");
  for (const ModelSpec* m : {&spec, &res}) {
    BudgetProblem p = budget_problem(*m, 0);
    REQUIRE(static_cast<int>(p.bytes.size()) == m->num_stages);
    Rng rng(9);
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<int> bits;
      int64_t bytes = p.fixed_bytes;
      for (int s = 0; s < m->num_stages; ++s) {
        const int o = static_cast<int>(rng.below(4));
        bits.push_back(p.widths[o]);
        bytes += p.bytes[s][o];
      }
      CHECK(bytes == size_report(*m, bits).weight_bytes);
    }
  }
}
