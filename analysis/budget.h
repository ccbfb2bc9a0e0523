// Bit allocation under a size budget: one weight bit width per stage, from
// {1, 2, 4, 8}, that minimizes the summed sensitivity of the stages subject
// to the model's weight bytes staying within a budget.
//
//   minimize    sum_s cost[s][b_s]
//   subject to  fixed_bytes + sum_s bytes[s][b_s] <= budget
//
// where bytes[s][b] = sum over the conv/linear layers of stage s of
// ceil(params * b / 8) and fixed_bytes are the full-precision layers at 32
// bits — together exactly weight_bytes of quant/size.h — and cost[s][b] is the
// measured sensitivity of stage s at b bits (the rise in validation loss when
// only that stage is quantized, analysis/sensitivity.h). Summing assumes the
// stages' damages add up, which is what a per-stage measurement can offer.
//
// The search is exact: a depth-first branch and bound over the stages in
// order (options in the order of `widths`), pruning a partial choice when its
// bytes plus the fewest bytes the remaining stages can take exceed the
// budget, or its cost plus the cheapest remaining costs exceeds the best
// complete choice found so far. Ties: equal cost goes to fewer bytes, then to
// the choice enumerated first (lexicographically smallest option indices).
// `allocate_brute_force` enumerates all |widths|^S choices with the same tie
// rule; the tests hold the two equal.
#pragma once

#include <cstdint>
#include <vector>

#include "models/model_spec.h"

namespace taper {

inline const std::vector<int> kAllocationWidths = {1, 2, 4, 8};

struct BudgetProblem {
  std::vector<int> widths = kAllocationWidths;  // the bit widths a stage can take
  std::vector<std::vector<int64_t>> bytes;      // [stage][option]
  std::vector<std::vector<double>> cost;        // [stage][option]
  int64_t fixed_bytes = 0;                      // layers outside every stage
  int64_t budget = 0;                           // weight_bytes allowed
};

struct Allocation {
  bool feasible = false;     // false: even the smallest choice is over budget
  std::vector<int> option;   // [stage] index into widths
  std::vector<int> bits;     // [stage] widths[option]
  double cost = 0.0;         // sum_s cost[s][option[s]], summed in stage order
  int64_t bytes = 0;         // fixed_bytes + sum_s bytes[s][option[s]]
};

Allocation allocate_bits(const BudgetProblem& problem);        // branch and bound
Allocation allocate_brute_force(const BudgetProblem& problem);  // all choices

// bytes[s][o] and fixed_bytes of a model (as quant/size.h counts them), with
// the costs left empty for the caller to fill.
BudgetProblem budget_problem(const ModelSpec& spec, int64_t budget, const std::vector<int>& widths = kAllocationWidths);

}  // namespace taper
