// analysis/sensitivity.h: batch norm re-estimation averages the per-batch
// statistics, sensitivity files are read strictly, and an auto policy is the
// exact allocation over the file's costs.
#include <catch2/catch.hpp>
#include <fstream>

#include "analysis/sensitivity.h"
#include "engine/error.h"
#include "quant/policy.h"
#include "models/size.h"
#include "support/gradcheck.h"
#include "support/temp_dir.h"

using namespace taper;

static ModelSpec shipped(const std::string& name) {
  return load_model_file(std::string(TAPER_SOURCE_DIR) + "/models/" + name + ".json");
}

// The running statistics of every batch norm, in layer order, concatenated.
static std::vector<float> running_stats(const Model& m) {
  SafeTensors st;
  m.save(st);
  std::vector<float> out;
  for (const LayerSpec& L : m.spec().layers)
    if (L.type == LayerType::batchnorm)
      for (const char* s : {".running_mean", ".running_var"}) {
        Tensor t = st.get(L.name + s);
        out.insert(out.end(), t.data(), t.data() + t.numel());
      }
  return out;
}

TEST_CASE("batch norm re-estimation is the average of the batches' own statistics") {
  const ModelSpec spec = with_batchnorm_momentum_one(shipped("lenet5"));
  Tensor b1 = testing::random_tensor({16, 1, 28, 28}, 1), b2 = testing::random_tensor({16, 1, 28, 28}, 2, 0.0f, 3.0f);
  auto stats_after = [&](const std::vector<Tensor>& batches) {
    Model m(spec, BuildOptions{});
    m.init(5);
    reestimate_batchnorm(m, batches);
    CHECK_FALSE(m.training());
    return running_stats(m);
  };
  const std::vector<float> s1 = stats_after({b1}), s2 = stats_after({b2}), both = stats_after({b1, b2});
  REQUIRE(s1.size() == both.size());
  REQUIRE(!s1.empty());
  int differ = 0;
  for (size_t i = 0; i < both.size(); ++i) {
    CHECK(both[i] == Approx((s1[i] + s2[i]) / 2).epsilon(1e-5).margin(1e-6));
    differ += s1[i] != s2[i];
  }
  CHECK(differ > 0);  // the two batches do have different statistics
  // A model built with the spec's own momentum (0.1) is refused.
  Model plain(shipped("lenet5"), BuildOptions{});
  CHECK_THROWS_AS(reestimate_batchnorm(plain, {b1}), Error);
}

TEST_CASE("auto policy: the exact allocation over a sensitivity file, strict parsing") {
  const ModelSpec spec = shipped("lenet5");  // 3 stages: conv2 2,400, fc1 30,720, fc2 10,080 params
  testing::TempDir dir;
  // Stage 1 hurts a lot below 8 bits, stage 2 (the largest) hardly at all.
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  const std::string good = write("s.json", R"({"format": "taper-sensitivity-1", "model": "lenet5",
    "baseline": {"loss": 0.5, "accuracy": 0.9}, "widths": [1, 2, 4, 8],
    "stages": [
      {"stage": 1, "results": [{"bits": 1, "loss": 2.5}, {"bits": 2, "loss": 1.5}, {"bits": 4, "loss": 0.9}, {"bits": 8, "loss": 0.5}]},
      {"stage": 2, "results": [{"bits": 1, "loss": 0.52}, {"bits": 2, "loss": 0.51}, {"bits": 4, "loss": 0.5}, {"bits": 8, "loss": 0.5}]},
      {"stage": 3, "results": [{"bits": 1, "loss": 0.7}, {"bits": 2, "loss": 0.6}, {"bits": 4, "loss": 0.55}, {"bits": 8, "loss": 0.5}]}]})");
  const int64_t budget = size_report(spec, parse_wbits("4-2-1", 3)).weight_bytes;
  AutoPolicy a = resolve_auto_wbits("auto:4-2-1@" + good, spec);
  CHECK(a.budget == budget);
  REQUIRE(a.allocation.feasible);
  // Brute force over the same costs: the allocation is its optimum.
  BudgetProblem p = budget_problem(spec, budget);
  const double loss[3][4] = {{2.5, 1.5, 0.9, 0.5}, {0.52, 0.51, 0.5, 0.5}, {0.7, 0.6, 0.55, 0.5}};
  for (int s = 0; s < 3; ++s)
    for (int o = 0; o < 4; ++o) p.cost[s][o] = loss[s][o] - 0.5;
  const Allocation best = allocate_brute_force(p);
  CHECK(a.allocation.bits == best.bits);
  CHECK(a.allocation.bits[0] == 8);  // the sensitive small stage gets the bits
  CHECK(size_report(spec, a.allocation.bits).weight_bytes <= budget);
  CHECK(resolve_auto_wbits("auto:" + std::to_string(budget) + "@" + good, spec).allocation.bits == a.allocation.bits);
  CHECK(describe(a).find("auto:4-2-1 -> wbits " + bits_to_string(a.allocation.bits)) == 0);

  CHECK_THROWS_AS(resolve_auto_wbits("auto:10@" + good, spec), Error);  // nothing fits in 10 bytes
  CHECK_THROWS_AS(resolve_auto_wbits("auto:4-2-1", spec), Error);
  CHECK_THROWS_AS(resolve_auto_wbits("auto:@" + good, spec), Error);
  CHECK_THROWS_AS(resolve_auto_wbits("auto:4-2-1@" + good, shipped("vgg7-fmnist")), Error);
  CHECK_THROWS_AS(resolve_auto_wbits("auto:9-9-9@" + good, spec), Error);
  for (const char* bad : {R"({"format": "taper-sensitivity-1", "model": "lenet5"})",
                          R"({"format": "other", "model": "lenet5"})", "not json",
                          R"({"format": "taper-sensitivity-1", "model": "lenet5", "baseline": {"loss": 0.5},
                              "widths": [1, 2], "stages": [{"stage": 2, "results": []}]})"}) {
    const std::string f = write("bad.json", bad);
    CHECK_THROWS_AS(read_sensitivity(f), Error);
  }
}
