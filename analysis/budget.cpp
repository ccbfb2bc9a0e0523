#include "analysis/budget.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"
#include "models/size.h"

namespace taper {

namespace {

void check_problem(const BudgetProblem& p) {
  const size_t S = p.bytes.size();
  check(!p.widths.empty(), "bit allocation: no bit widths to choose from");
  check(p.cost.size() == S, "bit allocation: ", p.cost.size(), " cost rows for ", S, " stages");
  for (size_t s = 0; s < S; ++s)
    check(p.bytes[s].size() == p.widths.size() && p.cost[s].size() == p.widths.size(), "bit allocation: stage ",
          s + 1, " needs one size and one cost per bit width");
}

// Candidate a beats the best so far: lower cost, then fewer bytes. Choices
// arrive in lexicographic order, so an exact tie keeps the earlier one.
bool better(double cost, int64_t bytes, const Allocation& best) {
  if (!best.feasible) return true;
  if (cost != best.cost) return cost < best.cost;
  return bytes < best.bytes;
}

void finish(const BudgetProblem& p, Allocation& a) {
  a.bits.clear();
  for (int o : a.option) a.bits.push_back(p.widths[o]);
}

struct Search {
  const BudgetProblem& p;
  std::vector<double> min_cost_after;    // [s]: sum of the cheapest costs of stages s..S-1
  std::vector<int64_t> min_bytes_after;  // [s]: sum of the fewest bytes of stages s..S-1
  std::vector<int> choice;
  Allocation best;

  void run(size_t s, double cost, int64_t bytes) {
    const size_t S = p.bytes.size();
    if (s == S) {
      if (better(cost, bytes, best)) best.feasible = true, best.option = choice, best.cost = cost, best.bytes = bytes;
      return;
    }
    for (size_t o = 0; o < p.widths.size(); ++o) {
      const int64_t b = bytes + p.bytes[s][o];
      if (b + min_bytes_after[s + 1] > p.budget) continue;  // cannot fit, whatever follows
      const double c = cost + p.cost[s][o];
      // The bound is a sum in another order than the final cost, so allow
      // for rounding: prune only what is clearly worse (never a tie).
      const double bound = c + min_cost_after[s + 1];
      if (best.feasible && bound > best.cost + 1e-9 * (1.0 + std::fabs(best.cost))) continue;
      choice[s] = static_cast<int>(o);
      run(s + 1, c, b);
    }
  }
};

}  // namespace

Allocation allocate_bits(const BudgetProblem& p) {
  check_problem(p);
  const size_t S = p.bytes.size();
  Search search{p, std::vector<double>(S + 1, 0.0), std::vector<int64_t>(S + 1, 0), std::vector<int>(S, 0), {}};
  for (size_t s = S; s-- > 0;) {
    search.min_cost_after[s] = search.min_cost_after[s + 1] + *std::min_element(p.cost[s].begin(), p.cost[s].end());
    search.min_bytes_after[s] =
        search.min_bytes_after[s + 1] + *std::min_element(p.bytes[s].begin(), p.bytes[s].end());
  }
  search.run(0, 0.0, p.fixed_bytes);
  finish(p, search.best);
  return search.best;
}

Allocation allocate_brute_force(const BudgetProblem& p) {
  check_problem(p);
  const size_t S = p.bytes.size(), W = p.widths.size();
  check(std::pow(static_cast<double>(W), static_cast<double>(S)) <= 1e8, "brute-force allocation over ", S,
        " stages is too large");
  Allocation best;
  std::vector<int> choice(S, 0);
  while (true) {
    double cost = 0.0;
    int64_t bytes = p.fixed_bytes;
    for (size_t s = 0; s < S; ++s) cost += p.cost[s][choice[s]], bytes += p.bytes[s][choice[s]];
    if (bytes <= p.budget && better(cost, bytes, best))
      best.feasible = true, best.option = choice, best.cost = cost, best.bytes = bytes;
    // Next choice in lexicographic order (last stage fastest).
    size_t s = S;
    while (s > 0 && choice[s - 1] == static_cast<int>(W) - 1) choice[--s] = 0;
    if (s == 0) break;
    ++choice[s - 1];
  }
  finish(p, best);
  return best;
}

BudgetProblem budget_problem(const ModelSpec& spec, int64_t budget, const std::vector<int>& widths) {
  BudgetProblem p;
  p.widths = widths;
  p.budget = budget;
  p.bytes.assign(spec.num_stages, std::vector<int64_t>(widths.size(), 0));
  p.cost.assign(spec.num_stages, std::vector<double>(widths.size(), 0.0));
  for (const LayerSpec& L : spec.layers) {
    if (!L.has_weights()) continue;
    const int64_t params = weight_params(L);
    if (L.stage == 0) {
      p.fixed_bytes += packed_bytes(params, 32);
      continue;
    }
    for (size_t o = 0; o < widths.size(); ++o) p.bytes[L.stage - 1][o] += packed_bytes(params, widths[o]);
  }
  return p;
}

}  // namespace taper
