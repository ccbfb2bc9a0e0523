// Bit policies, size accounting and the width multiplier, checked against
// the paper's Table I parameter counts and average weight bits.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/error.h"
#include "models/model_spec.h"
#include "quant/policy.h"
#include "models/size.h"

using namespace taper;

static ModelSpec model(const std::string& name) {
  return load_model_file(std::string(TAPER_SOURCE_DIR) + "/models/" + name + ".json");
}

static std::vector<int64_t> stage_params(const ModelSpec& spec) {
  std::vector<int64_t> per(spec.num_stages, 0);
  for (const auto& L : spec.layers)
    if (L.quantizable()) per[L.stage - 1] += weight_params(L);
  return per;
}

static double avg_bits(const std::string& name, const std::string& wbits) {
  ModelSpec spec = model(name);
  return size_report(spec, parse_wbits(wbits, spec.num_stages)).avg_weight_bits;
}

static double round2(double x) { return std::round(x * 100.0) / 100.0; }

TEST_CASE("wbits grammar") {
  CHECK(parse_wbits("32", 3) == std::vector<int>{32, 32, 32});
  CHECK(parse_wbits("2", 4) == std::vector<int>{2, 2, 2, 2});
  CHECK(parse_wbits("8-4-2-1", 4) == std::vector<int>{8, 4, 2, 1});
  CHECK(parse_wbits("8-32-1", 3) == std::vector<int>{8, 32, 1});
  CHECK(parse_wbits("progressive:8", 7) == std::vector<int>{8, 4, 2, 1, 1, 1, 1});
  CHECK(parse_wbits("progressive:6", 4) == std::vector<int>{6, 3, 1, 1});
  CHECK(parse_wbits("progressive:1", 2) == std::vector<int>{1, 1});
  CHECK(bits_to_string({8, 4, 2}) == "8-4-2");
  CHECK(parse_abits("2") == 2);
  CHECK(parse_abits("32") == 32);
}

TEST_CASE("wbits errors name the problem") {
  CHECK_THROWS_WITH(parse_wbits("8-4-2", 4), Catch::Contains("gives 3 values but the model has 4 stages"));
  CHECK_THROWS_AS(parse_wbits("9", 2), Error);
  CHECK_THROWS_AS(parse_wbits("0", 2), Error);
  CHECK_THROWS_AS(parse_wbits("16", 2), Error);
  CHECK_THROWS_AS(parse_wbits("", 2), Error);
  CHECK_THROWS_AS(parse_wbits("-2", 2), Error);
  CHECK_THROWS_AS(parse_wbits("8--2", 3), Error);
  CHECK_THROWS_AS(parse_wbits("8-4-", 3), Error);
  CHECK_THROWS_AS(parse_wbits("progressive:9", 2), Error);
  CHECK_THROWS_AS(parse_wbits("progressive:0", 2), Error);
  CHECK_THROWS_AS(parse_wbits("progressive:", 2), Error);
  CHECK_THROWS_AS(parse_wbits("progressive:x", 2), Error);
  CHECK_THROWS_AS(parse_wbits(" 2", 2), Error);
  CHECK_THROWS_AS(parse_wbits("2.5", 2), Error);
  CHECK_THROWS_AS(parse_abits("0"), Error);
  CHECK_THROWS_AS(parse_abits("9"), Error);
  CHECK_THROWS_AS(parse_abits("16"), Error);
  CHECK_THROWS_AS(parse_abits("two"), Error);
}

TEST_CASE("Table I: per-stage parameter counts") {
  CHECK(stage_params(model("vgg7")) ==
        std::vector<int64_t>{3456, 147456, 294912, 589824, 1179648, 2359296, 8388608});
  CHECK(stage_params(model("resnet20")) == std::vector<int64_t>{13824, 51200, 204800});
  CHECK(stage_params(model("resnet20-preact")) == std::vector<int64_t>{13824, 51200, 204800});
  CHECK(stage_params(model("alexnet")) ==
        std::vector<int64_t>{307200, 884736, 663552, 442368, 37748736, 16777216});
  CHECK(stage_params(model("resnet18")) == std::vector<int64_t>{147456, 524288, 2097152, 8388608});
  // Full-precision layers outside the stages.
  CHECK(weight_params(model("resnet20").layers[0]) == 432);
  CHECK(weight_params(model("resnet20-preact").layers[0]) == 432);
  CHECK(weight_params(model("alexnet").layers[0]) == 41472);
  CHECK(weight_params(model("resnet18").layers[0]) == 9408);  // standard 7x7 stem (Table I lists 1,728)
}

TEST_CASE("Table I: average weight bits") {
  CHECK(round2(avg_bits("vgg7", "8-4-2-1-1-1-1")) == Approx(1.06));
  CHECK(round2(avg_bits("resnet20", "4-2-1")) == Approx(1.34));
  CHECK(avg_bits("resnet20", "8-4-2") == Approx(2.6869).margin(5e-5));
  CHECK(round2(avg_bits("resnet20-preact", "4-2-1")) == Approx(1.34));
  CHECK(avg_bits("resnet20-preact", "8-4-2") == Approx(2.6869).margin(5e-5));
  CHECK(round2(avg_bits("alexnet", "8-4-2-1-1-1")) == Approx(1.10));
  CHECK(round2(avg_bits("resnet18", "8-4-2-1")) == Approx(1.42));
  CHECK(avg_bits("vgg7", "progressive:8") == avg_bits("vgg7", "8-4-2-1-1-1-1"));
  CHECK(avg_bits("resnet20", "2") == 2.0);
  CHECK(avg_bits("resnet20", "32") == 32.0);
}

TEST_CASE("size report of resnet20 4-2-1 a2") {
  ModelSpec spec = model("resnet20");
  SizeReport r = size_report(spec, {4, 2, 1}, 2);
  CHECK(r.quantized_params == 13824 + 51200 + 204800);
  CHECK(r.quantized_weight_bytes == 13824 * 4 / 8 + 51200 * 2 / 8 + 204800 / 8);
  // Plus the full-precision stem (432) and output layer (64 * 10) at 32 bits.
  CHECK(r.weight_bytes == r.quantized_weight_bytes + 4 * (432 + 640));
  int64_t bn_channels = 0;
  for (const auto& L : spec.layers)
    if (L.type == LayerType::batchnorm) bn_channels += L.out_shape[0];
  // The packed file (models/packed_plan.h): the first conv of every block
  // whose input is codes (all but s1b1's, whose input is the float ReLU) is
  // folded with its batch norm and qact into 3 int32 thresholds and an int8
  // direction per channel: 2 x 16 + 3 x 32 + 3 x 64 = 320 channels. Every
  // other batch norm stays float (mean, scale, shift). The 7 1-bit convs of
  // stage 3 keep their 64 float binarizer scales each (folded or not: the
  // file gives every weight's grid value); plus the output bias (10).
  const int64_t folded = 2 * 16 + 3 * 32 + 3 * 64;
  CHECK(r.total_bytes == r.weight_bytes + 4 * 10 + 4 * 7 * 64 + 13 * folded + 12 * (bn_channels - folded));
  CHECK(r.fp32_bytes == 4 * (432 + 13824 + 51200 + 204800 + 640 + 10 + 3 * bn_channels));
  int64_t sum = 0;
  for (const auto& row : r.layers) sum += row.bytes;
  CHECK(sum == r.total_bytes);
  CHECK(r.layers.size() == spec.layers.size());
}

TEST_CASE("packed bytes round up") {
  CHECK(packed_bytes(9, 1) == 2);
  CHECK(packed_bytes(8, 1) == 1);
  CHECK(packed_bytes(3, 3) == 2);
  CHECK(packed_bytes(432, 32) == 1728);
}

TEST_CASE("width multiplier") {
  ModelSpec spec = model("resnet20");
  ModelSpec w2 = apply_width(spec, 2.0);
  CHECK(w2.layers[0].out_channels == 32);
  CHECK(w2.layers[0].in_shape[0] == 3);  // input channels stay
  CHECK(w2.layers.back().out_features == 10);  // classes stay
  ModelSpec half = apply_width(spec, 0.5);
  CHECK(half.layers[0].out_channels == 8);
  // round(16 * 1.3) = 21 (20.8), round(32 * 1.3) = 42 (41.6)
  ModelSpec w13 = apply_width(spec, 1.3);
  CHECK(w13.layers[0].out_channels == 21);
  CHECK(w13.layers[3].out_channels == 21);
  // Never below 1.
  CHECK(apply_width(spec, 0.001).layers[0].out_channels == 1);
  // Grouped convs: AlexNet's conv1 feeds a 2-group conv, so it stays even.
  ModelSpec alex = apply_width(model("alexnet"), 1.01);  // 96 * 1.01 = 96.96 -> 97 -> even: 96 or 98
  CHECK(alex.layers[0].out_channels % 2 == 0);
  CHECK(alex.layers[3].out_channels % 2 == 0);
  CHECK_THROWS_AS(apply_width(spec, 0.0), Error);
  CHECK_THROWS_AS(apply_width(spec, -1.0), Error);
  CHECK_THROWS_AS(apply_width(spec, NAN), Error);
}

TEST_CASE("width multiplier keeps the inputs of an add equal") {
  // Branch a feeds a 2-group conv (so it must stay even), branch b does not;
  // their sum must still agree at any width.
  const char* text = R"({"name": "t", "input": [3, 8, 8], "classes": 2, "layers": [
    {"name": "a", "type": "conv", "out_channels": 6, "kernel": 1},
    {"name": "b", "type": "conv", "out_channels": 6, "kernel": 1, "input": "input"},
    {"name": "sum", "type": "add", "inputs": ["a", "b"]},
    {"name": "g", "type": "conv", "out_channels": 4, "kernel": 1, "groups": 2, "input": "a"},
    {"name": "pool", "type": "globalavgpool"},
    {"name": "fc", "type": "linear", "out_features": "classes"}]})";
  ModelSpec spec = parse_model_json(text, "t.json");
  for (double w : {0.5, 1.1, 1.25, 1.7, 3.0}) {
    INFO("width " << w);
    ModelSpec m = apply_width(spec, w);
    CHECK(m.layers[0].out_channels == m.layers[1].out_channels);
    CHECK(m.layers[0].out_channels % 2 == 0);
  }
  CHECK(apply_width(spec, 1.1).layers[0].out_channels == 6);  // 6.6 -> nearest even is 6
  // An add that reads the network input pins the other branch.
  const char* pinned = R"({"name": "p", "input": [3, 8, 8], "classes": 2, "layers": [
    {"name": "c", "type": "conv", "out_channels": 3, "kernel": 1},
    {"name": "sum", "type": "add", "inputs": ["c", "input"]},
    {"name": "d", "type": "conv", "out_channels": 5, "kernel": 1},
    {"name": "pool", "type": "globalavgpool"},
    {"name": "fc", "type": "linear", "out_features": "classes"}]})";
  ModelSpec p = apply_width(parse_model_json(pinned, "p.json"), 2.0);
  CHECK(p.layers[0].out_channels == 3);
  CHECK(p.layers[2].out_channels == 10);
}

TEST_CASE("match size: the largest width that fits") {
  ModelSpec spec = model("resnet20");
  std::vector<int> two(3, 2), one(3, 1), fp(3, 32);
  int64_t target = size_report(spec, two).weight_bytes;
  double w = match_width(spec, one, target);
  CHECK(size_report(apply_width(spec, w), one).weight_bytes <= target);
  CHECK(size_report(apply_width(spec, w + 0.001), one).weight_bytes > target);
  CHECK(w > 1.2);   // a 1-bit net at the size of a 2-bit one is wider (about sqrt(2))
  CHECK(w < 1.5);
  CHECK(match_width(spec, two, target) >= 1.0);
  CHECK_THROWS_AS(match_width(spec, fp, 10), Error);
}
