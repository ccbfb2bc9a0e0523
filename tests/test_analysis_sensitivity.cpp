// analysis/sensitivity.h: batch norm re-estimation averages the per-batch
// statistics, sensitivity files are read strictly, and an auto policy is the
// exact allocation over the file's costs.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "analysis/sensitivity.h"
#include "engine/error.h"
#include "quant/binarize.h"
#include "quant/policy.h"
#include "quant/weight_quant.h"
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

TEST_CASE("kept scale: the quantized row rescaled by its least-squares factor") {
  // Hand-made: w = (0.5, -0.5). tanh gives +-t with M = t, so u = 1, 0 and
  // Q = (1, -1) at any k; alpha = (0.5 + 0.5) / 2 = 0.5, out = w exactly.
  const float w[2] = {0.5f, -0.5f};
  for (int k : {2, 4, 8}) {
    float out[2];
    quantize_keep_scale(w, out, 1, 2, k);
    CHECK(out[0] == 0.5f);
    CHECK(out[1] == -0.5f);
  }
  // 1 bit: binarize's per-row mean |w| already is the least-squares factor.
  const Tensor r = testing::random_tensor({6, 40}, 3, 0.0f, 0.05f);
  std::vector<float> kept(r.numel()), bin(r.numel()), scale(6);
  quantize_keep_scale(r.data(), kept.data(), 6, 40, 1);
  binarize_ref(r.data(), bin.data(), scale.data(), 6, 40, false);
  for (int64_t i = 0; i < r.numel(); ++i) CHECK(kept[i] == Approx(bin[i]).epsilon(1e-6));
  // k bits: the values lie on alpha_i times DoReFa's grid, alpha_i minimizes
  // |w_i - alpha q_i|, and the row keeps its scale (DoReFa's grid does not:
  // its largest weight becomes 1, 20x these weights).
  std::vector<float> q(r.numel());
  for (int k : {2, 4, 8}) {
    quantize_keep_scale(r.data(), kept.data(), 6, 40, k);
    weight_quantize_ref(r.data(), q.data(), 6, 40, k);
    for (int i = 0; i < 6; ++i) {
      double wq = 0, qq = 0, ww = 0, kk = 0;
      for (int j = 0; j < 40; ++j) {
        const int64_t e = i * 40 + j;
        wq += double(r[e]) * q[e], qq += double(q[e]) * q[e];
        ww += double(r[e]) * r[e], kk += double(kept[e]) * kept[e];
      }
      const double alpha = wq / qq;
      auto err = [&](double a) {
        double s = 0;
        for (int j = 0; j < 40; ++j) s += (r[i * 40 + j] - a * q[i * 40 + j]) * (r[i * 40 + j] - a * q[i * 40 + j]);
        return s;
      };
      for (int j = 0; j < 40; ++j) CHECK(kept[i * 40 + j] == Approx(alpha * q[i * 40 + j]).epsilon(1e-6));
      CHECK(err(alpha) < err(alpha * 1.01));
      CHECK(err(alpha) < err(alpha * 0.99));
      if (k == 8) CHECK(std::sqrt(kk / ww) == Approx(1.0).epsilon(0.01));
      CHECK(alpha < 0.2);  // DoReFa's own scale is 1 here
    }
  }
  CHECK_THROWS_AS(quantize_keep_scale(r.data(), kept.data(), 6, 40, 0), Error);
}

TEST_CASE("kept scale: only the chosen stage's weights change in the checkpoint") {
  const ModelSpec spec = shipped("lenet5");
  Model m(spec, BuildOptions{});
  m.init(7);
  SafeTensors st;
  m.save(st);
  const SafeTensors kept = keep_scale_weights(st, spec, 2, 2);
  int changed = 0;
  for (const auto& [name, entry] : st.entries) {
    const Tensor a = st.get(name), b = kept.get(name);
    bool same = a.numel() == b.numel();
    for (int64_t i = 0; same && i < a.numel(); ++i) same = a[i] == b[i];
    bool in_stage2 = false;
    for (const LayerSpec& L : spec.layers)
      in_stage2 = in_stage2 || (L.quantizable() && L.stage == 2 && name == L.name + ".weight");
    CHECK(same == !in_stage2);
    changed += !same;
  }
  CHECK(changed == 1);  // lenet5's stage 2 is fc1 alone
  CHECK_THROWS_AS(keep_scale_weights(st, spec, 9, 2), Error);
}
