// `taper analyze` end to end on a small MNIST-format data set the test writes
// itself (TAPER_DATA points the data cache at it), --wbits auto:...@FILE in
// summary and train, the scatter figure's pixels, and bad input (exit 2).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "apps/plot.h"
#include "data_fixtures.h"
#include "engine/rng.h"
#include "support/run_taper.h"

using namespace taper;
using namespace taper::testing;
using nlohmann::json;

namespace {

// Class c is a bright horizontal band at rows 2c..2c+5 (plus noise): separable
// from the pixels on, and a LeNet learns it in one epoch.
struct BandData {
  TempDir dir;
  BandData() {
    for (auto [prefix, n, seed] : {std::tuple{"train", 600, 1}, std::tuple{"t10k", 200, 2}}) {
      Rng rng(seed);
      Bytes px(static_cast<size_t>(n) * 784), labels(n);
      for (int i = 0; i < n; ++i) {
        const int c = i % 10;  // every class equally often
        labels[i] = static_cast<uint8_t>(c);
        for (int k = 0; k < 784; ++k) px[i * 784 + k] = static_cast<uint8_t>(rng.below(60));
        for (int y = 2 * c; y < 2 * c + 6; ++y)
          for (int x = 0; x < 28; ++x) px[i * 784 + y * 28 + x] = static_cast<uint8_t>(180 + rng.below(70));
      }
      write_bytes(dir / ("mnist/" + std::string(prefix) + "-images-idx3-ubyte"), idx_images(n, 28, 28, px));
      write_bytes(dir / ("mnist/" + std::string(prefix) + "-labels-idx1-ubyte"), idx_labels(n, labels));
    }
    setenv("TAPER_DATA", dir.path().c_str(), 1);
  }
};

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

}  // namespace

TEST_CASE("analyze writes the separability table, t-SNE figures and sensitivity; auto policies use it") {
  BandData data;
  TempDir runs;
  RunResult t = run_taper("train --model lenet5 --data mnist --epochs 1 --batch 32 --lr 0.05 --threads 1 --out " +
                          runs / "fp");
  INFO(t.out << t.err);
  REQUIRE(t.exit_code == 0);
  RunResult a = run_taper("analyze " + runs / "fp/best.safetensors" +
                          " --per-class 6 --perplexity 5 --iterations 300 --threads 1 --json --sensitivity "
                          "--bn-batches 2 --out " + runs / "an");
  INFO(a.err);
  REQUIRE(a.exit_code == 0);
  json j = json::parse(a.out);
  CHECK(j == json::parse(std::ifstream(runs / "an/analysis.json")));
  CHECK(j["images"] == 60);
  // The input row and one per quantizable layer of lenet5 (conv2, fc1, fc2).
  REQUIRE(j["layers"].size() == 4);
  CHECK(j["layers"][0]["name"] == "input");
  CHECK(j["layers"][0]["dim"] == 784);
  CHECK(j["layers"][1]["name"] == "conv2");
  CHECK(j["layers"][1]["pooled"] == true);
  CHECK(j["layers"][1]["dim"] == 16);
  CHECK(j["layers"][3]["name"] == "fc2");
  CHECK(j["layers"][3]["dim"] == 84);
  for (const auto& l : j["layers"]) {
    CHECK(l["knn_accuracy"].get<double>() >= 0.0);
    CHECK(l["knn_accuracy"].get<double>() <= 1.0);
    CHECK(file_exists(runs / ("an/" + l["tsne_png"].get<std::string>())));
  }
  CHECK(j["layers"][0]["knn_accuracy"].get<double>() > 0.9);  // the bands separate in pixel space already
  CHECK(file_exists(runs / "an/tsne_all.png"));
  // Sensitivity: 3 stages x {1, 2, 4, 8} bits, on the run's 60 validation images.
  json s = json::parse(std::ifstream(runs / "an/sensitivity.json"));
  CHECK(s == j["sensitivity"]);
  CHECK(s["images"] == 60);
  REQUIRE(s["stages"].size() == 3);
  for (const auto& st : s["stages"]) {
    REQUIRE(st["results"].size() == 4);
    for (const auto& r : st["results"])
      CHECK(r["loss_increase"].get<double>() == Approx(r["loss"].get<double>() - s["baseline"]["loss"].get<double>()));
  }

  // --keep-scale: the same table with each stage's quantized weights rescaled
  // to the layer's own scale; 1 bit is the binarizer, whose mean |w| scale
  // already is that scale, so its column is the same measurement.
  RunResult k = run_taper("analyze " + runs / "fp/best.safetensors" +
                          " --per-class 6 --perplexity 5 --iterations 10 --threads 1 --json --sensitivity "
                          "--bn-batches 2 --keep-scale --out " + runs / "keep");
  INFO(k.err);
  REQUIRE(k.exit_code == 0);
  json ks = json::parse(std::ifstream(runs / "keep/sensitivity.json"));
  CHECK(ks["weight_scale"].get<std::string>().rfind("kept", 0) == 0);
  CHECK(s["weight_scale"].get<std::string>().rfind("kept", 0) == std::string::npos);
  CHECK(ks["baseline"] == s["baseline"]);
  REQUIRE(ks["stages"].size() == 3);
  int differ = 0;
  for (size_t st = 0; st < 3; ++st) {
    CHECK(ks["stages"][st]["results"][0]["loss"].get<double>() ==
          Approx(s["stages"][st]["results"][0]["loss"].get<double>()).epsilon(1e-4));
    for (size_t o = 1; o < 4; ++o)
      differ += ks["stages"][st]["results"][o]["loss"] != s["stages"][st]["results"][o]["loss"];
  }
  CHECK(differ > 0);

  // An auto policy at the size of 4-2-1 fits it and is what train records.
  const std::string sens = runs / "an/sensitivity.json";
  RunResult target = run_taper("summary lenet5 --wbits 4-2-1 --json");
  RunResult chosen = run_taper("summary lenet5 --wbits auto:4-2-1@" + sens + " --json");
  INFO(chosen.err);
  REQUIRE(chosen.exit_code == 0);
  CHECK(chosen.err.find("auto:4-2-1 -> wbits ") != std::string::npos);
  const json tj = json::parse(target.out), cj = json::parse(chosen.out);
  CHECK(cj["weight_bytes"].get<int64_t>() <= tj["weight_bytes"].get<int64_t>());
  RunResult bytes = run_taper("summary lenet5 --wbits auto:" + std::to_string(tj["weight_bytes"].get<int64_t>()) +
                              "@" + sens + " --json");
  CHECK(json::parse(bytes.out)["stage_bits"] == cj["stage_bits"]);
  RunResult tr = run_taper("train --model lenet5 --data mnist --epochs 1 --limit 100 --threads 1 --wbits auto:4-2-1@" +
                           sens + " --out " + runs / "auto");
  INFO(tr.out << tr.err);
  REQUIRE(tr.exit_code == 0);
  json cfg = json::parse(std::ifstream(runs / "auto/config.json"));
  CHECK(json(cfg["wbits"]) == json(cj["wbits"]));

  // Bad input: exit 2 with one line.
  expect_usage_error("summary lenet5 --wbits auto:1@" + sens, "fits in 1 weight bytes");
  expect_usage_error("summary lenet5 --wbits auto:4-2-1", "expected auto:BYTES@SENSITIVITY.json");
  expect_usage_error("summary vgg7-fmnist --wbits auto:4@" + sens, "not vgg7-fmnist");
  expect_usage_error("summary lenet5 --wbits auto:4@" + runs / "nope.json", "cannot open the sensitivity file");
  expect_usage_error("summary lenet5 --wbits auto:4@" + runs / "fp/config.json", "not a sensitivity file");
  expect_usage_error("analyze " + runs / "fp/best.safetensors --bn-batches 3", "--sensitivity only");
  expect_usage_error("analyze " + runs / "fp/best.safetensors --keep-scale", "--sensitivity only");
  expect_usage_error("analyze " + runs / "auto/best.safetensors --sensitivity --keep-scale",
                     "full-precision checkpoints only");
  expect_usage_error("analyze " + runs / "fp/best.safetensors --per-class 100", "lower --per-class");
}

TEST_CASE("analyze: bad arguments exit with 2") {
  expect_usage_error("analyze", "checkpoint");
  expect_usage_error("analyze /nonexistent/x.safetensors", "x.safetensors");
}

TEST_CASE("scatter figure: each point is drawn in its class colour inside its panel") {
  app::ScatterPanel p, q;
  p.title = "a";
  p.xy = {0, 0, 1, 1, 0.5, 0.2};
  p.labels = {0, 1, 2};
  q.title = "b";
  q.xy = {-5, 5, 5, -5};
  q.labels = {3, 4};
  app::Image img = app::draw_scatter({p, q}, 2, {"zero", "one", "two", "three", "four"});
  CHECK(img.width == 2 * app::kScatterPanel);
  CHECK(img.height > app::kScatterPanel);
  auto pixel = [&](int x, int y) {
    const uint8_t* v = &img.rgb[(static_cast<size_t>(y) * img.width + x) * 3];
    return app::Color{v[0], v[1], v[2]};
  };
  for (size_t i = 0; i < p.labels.size(); ++i) {
    app::PlotPoint at = app::scatter_point(p, p.xy[2 * i], p.xy[2 * i + 1]);
    CHECK(pixel(at.x, at.y) == app::class_color(p.labels[i]));
  }
  for (size_t i = 0; i < q.labels.size(); ++i) {
    app::PlotPoint at = app::scatter_point(q, q.xy[2 * i], q.xy[2 * i + 1]);
    CHECK(at.x >= 0);
    CHECK(at.x < app::kScatterPanel);
    CHECK(pixel(app::kScatterPanel + at.x, at.y) == app::class_color(q.labels[i]));
  }
  // Points of one panel keep their geometry: (1, 1) is right of and above (0, 0).
  app::PlotPoint a = app::scatter_point(p, 0, 0), b = app::scatter_point(p, 1, 1);
  CHECK(b.x > a.x);
  CHECK(b.y < a.y);
}
