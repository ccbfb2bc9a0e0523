// `taper train` and `taper eval` end to end on a small MNIST-format data set
// the test writes itself (TAPER_DATA points the data cache at it): outputs,
// curves.png pixels, resume after a kill (byte-identical weights), NaN stop,
// and bad input.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stb_image.h>
#include <thread>

#include "apps/plot.h"
#include "data_fixtures.h"
#include "support/block_data.h"
#include "engine/safetensors.h"
#include "support/run_taper.h"

using namespace taper;
using namespace taper::testing;
using nlohmann::json;

namespace {


std::vector<json> read_metrics(const std::string& path) {
  std::vector<json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) out.push_back(json::parse(line));
  return out;
}

int count_lines(const std::string& path) {
  std::ifstream f(path);
  return static_cast<int>(std::count(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>(), '\n'));
}

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

const std::string kTrain = "train --model lenet5 --data mnist --batch 32 --lr 0.05 --seed 7 ";

}  // namespace

TEST_CASE("train writes its outputs and learns a separable task; eval rebuilds from the checkpoint") {
  BlockData data;
  TempDir runs;
  RunResult r = run_taper(kTrain + "--epochs 3 --threads 2 --out " + runs / "a");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  for (const char* f : {"config.json", "metrics.jsonl", "size.json", "last.safetensors", "best.safetensors",
                        "curves.png", "result.json"})
    CHECK(file_exists(runs / ("a/" + std::string(f))));
  auto m = read_metrics(runs / "a/metrics.jsonl");
  REQUIRE(m.size() == 3);
  for (const auto& e : m)
    for (const char* k : {"epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_acc", "img_s",
                          "seconds"})
      CHECK(e.contains(k));
  CHECK(m[2]["train_loss"].get<double>() < m[0]["train_loss"].get<double>());
  CHECK(m[2]["test_acc"].get<double>() > 0.8);  // chance is 0.1
  // The default milestones of a 3-epoch run: round(0.4 * 3) = 1, round(0.6 * 3) = 2.
  CHECK(m[0]["lr"].get<double>() == Approx(0.05));
  CHECK(m[1]["lr"].get<double>() == Approx(0.005));
  json result = json::parse(std::ifstream(runs / "a/result.json"));
  CHECK(result["test_acc_at_best"].get<double>() == m[result["best_epoch"].get<int>() - 1]["test_acc"].get<double>());

  RunResult e = run_taper("eval " + runs / "a/best.safetensors --json");
  INFO(e.err);
  REQUIRE(e.exit_code == 0);
  json ej = json::parse(e.out);
  CHECK(ej["count"] == 160);
  CHECK(ej["accuracy"].get<double>() == Approx(result["test_acc_at_best"].get<double>()));
  RunResult ev = run_taper("eval " + runs / "a/best.safetensors --split val --json");
  REQUIRE(ev.exit_code == 0);
  CHECK(json::parse(ev.out)["count"] == 48);  // 10% of 480
  CHECK(json::parse(ev.out)["accuracy"].get<double>() ==
        Approx(m[result["best_epoch"].get<int>() - 1]["val_acc"].get<double>()));

  SECTION("curves.png has the curves where the metrics put them") {
    int w, h, comp;
    unsigned char* px = stbi_load((runs / "a/curves.png").c_str(), &w, &h, &comp, 3);
    REQUIRE(px);
    std::vector<app::EpochMetrics> hist;
    for (const auto& j : m) {
      app::EpochMetrics x;
      x.epoch = j["epoch"];
      x.train_loss = j["train_loss"], x.train_acc = j["train_acc"];
      x.has_val = true, x.val_loss = j["val_loss"], x.val_acc = j["val_acc"];
      x.test_acc = j["test_acc"];
      hist.push_back(x);
    }
    auto color_at = [&](app::PlotPoint p) {
      const unsigned char* q = px + (static_cast<size_t>(p.y) * w + p.x) * 3;
      return app::Color{q[0], q[1], q[2]};
    };
    auto drawn = [&](int panel, size_t i, double v, app::Color c) {
      app::PlotPoint p = app::curve_point(hist, panel, i, v);
      REQUIRE(p.x >= 0);
      REQUIRE(p.x < w);
      REQUIRE(p.y >= 0);
      REQUIRE(p.y < h);
      return color_at(p) == c;
    };
    // The test curve is drawn last, so its markers are on top everywhere.
    for (size_t i = 0; i < hist.size(); ++i) CHECK(drawn(1, i, hist[i].test_acc, app::kTestColor));
    // Loss panel: validation drawn after training.
    for (size_t i = 0; i < hist.size(); ++i) CHECK(drawn(0, i, hist[i].val_loss, app::kValColor));
    // The first training-loss marker is the highest point of the loss panel and nothing covers it.
    CHECK(drawn(0, 0, hist[0].train_loss, app::kTrainColor));
    // Background where nothing is drawn.
    CHECK(color_at({w - 3, h - 3}) == app::Color{255, 255, 255});
    stbi_image_free(px);
  }
}

TEST_CASE("resume after a kill finishes byte-identical to an uninterrupted run") {
  BlockData data;
  TempDir runs;
  const std::string args = kTrain + "--epochs 4 --threads 2 --wbits 2 --abits 2 --out ";
  REQUIRE(run_taper(args + runs / "whole").exit_code == 0);

  // Start the same run, kill it (SIGKILL) once epoch 1's checkpoint exists.
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::string cmd = taper_bin() + " " + args + runs / "cut" + " >/dev/null 2>&1";
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (!(file_exists(runs / "cut/last.safetensors") && count_lines(runs / "cut/metrics.jsonl") >= 1) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));  // it was interrupted, not finished
  REQUIRE(count_lines(runs / "cut/metrics.jsonl") < 4);

  RunResult r = run_taper("train --resume " + runs / "cut");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("resuming") != std::string::npos);
  SafeTensors a = load_safetensors(runs / "whole/last.safetensors");
  SafeTensors b = load_safetensors(runs / "cut/last.safetensors");
  REQUIRE(a.entries.size() == b.entries.size());
  for (const auto& [name, entry] : a.entries) {
    INFO(name);
    REQUIRE(b.has(name));
    CHECK(entry.bytes == b.entries.at(name).bytes);
  }
  CHECK(a.metadata.at("best_epoch") == b.metadata.at("best_epoch"));
  auto ma = read_metrics(runs / "whole/metrics.jsonl"), mb = read_metrics(runs / "cut/metrics.jsonl");
  REQUIRE(mb.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(ma[i]["train_loss"] == mb[i]["train_loss"]);
    CHECK(ma[i]["test_acc"] == mb[i]["test_acc"]);
  }
  // A finished run resumes to nothing.
  RunResult again = run_taper("train --resume " + runs / "cut");
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("already finished") != std::string::npos);
}

TEST_CASE("a diverging loss stops the run and keeps no bad checkpoint") {
  BlockData data;
  TempDir runs;
  // Four linear layers without batch norm and lr 1000: each step multiplies
  // the weights' growth, and the logits overflow within a few steps.
  write_text(runs / "mlp.json", R"({"name": "mlp", "input": [1, 28, 28], "classes": 10, "layers": [
    {"name": "flatten", "type": "flatten"},
    {"name": "fc1", "type": "linear", "out_features": 64}, {"name": "relu1", "type": "relu"},
    {"name": "fc2", "type": "linear", "out_features": 64}, {"name": "relu2", "type": "relu"},
    {"name": "fc3", "type": "linear", "out_features": 64}, {"name": "relu3", "type": "relu"},
    {"name": "fc4", "type": "linear", "out_features": "classes"}]})");
  RunResult r = run_taper("train --model " + runs / "mlp.json" +
                          " --data mnist --batch 32 --epochs 2 --threads 1 --lr 1000 --out " + runs / "nan");
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("the loss became NaN at epoch 1, step ") != std::string::npos);
  CHECK(r.err.find("try a lower --lr") != std::string::npos);
  CHECK(!file_exists(runs / "nan/last.safetensors"));  // nothing was saved from the bad epoch
}

TEST_CASE("train and eval: bad input exits with 2 and says what to do") {
  BlockData data;
  TempDir runs;
  write_text(runs / "bad.json", "{\"model\": \"lenet5\", \"epoch\": 3}");
  write_text(runs / "good.json", "{\"model\": \"lenet5\", \"data\": \"mnist\", \"epochs\": 1, \"batch\": 64}");
  expect_usage_error("train", "no model: give --model");
  expect_usage_error("train --run " + runs / "bad.json", "unknown key \"epoch\"");
  expect_usage_error("train --run " + runs / "nope.json", "cannot open run config");
  expect_usage_error("train --model lenet5 --data imagenet", "unknown");
  expect_usage_error("train --model lenet5 --data cifar10", "scripts/get-data.sh cifar10");
  expect_usage_error("train --model resnet20 --data mnist --epochs 1", "has images (1, 28, 28) but model resnet20 takes");
  expect_usage_error("train --model lenet5 --epochs 0", "--epochs: 0 is out of range");
  expect_usage_error("train --model lenet5 --batch 1", "--batch: 1 is out of range [2, 65536]");
  expect_usage_error("train --model lenet5 --val-split 0.95", "--val-split: 0.95 is out of range");
  expect_usage_error("train --model lenet5 --augment sideways --data mnist", "sideways");
  expect_usage_error("train --model lenet5 --optimizer rmsprop", "expected sgd, adam or adamw");
  expect_usage_error("train --model lenet5 --lr -1", "--lr: -1 is out of range");
  expect_usage_error("train --model lenet5 --milestones 5,3", "milestones must increase");
  expect_usage_error("train --model lenet5 --nesterov --optimizer adam", "--nesterov applies to sgd only");
  expect_usage_error("train --model lenet5 --wbits 3-3", "gives 2 values but the model has 3 stages");
  expect_usage_error("train --model lenet5 --lerning-rate 0.1", "unknown flag --lerning-rate");
  expect_usage_error("train --resume " + runs / "none", "no last.safetensors to resume from");
  // A finished run folder is never overwritten.
  REQUIRE(run_taper("train --run " + runs / "good.json" + " --limit 64 --out " + runs / "done").exit_code == 0);
  expect_usage_error("train --run " + runs / "good.json" + " --out " + runs / "done", "already holds a run");
  expect_usage_error("train --resume " + runs / "done --epochs 3", "takes no other flags");
  expect_usage_error("eval " + runs / "good.json", "good.json");
  expect_usage_error("eval " + runs / "done/last.safetensors --split train", "expected test or val");
  // A safetensors file that is not a checkpoint.
  SafeTensors plain;
  plain.put("x", Tensor({1}));
  save_safetensors(runs / "plain.st", plain);
  expect_usage_error("eval " + runs / "plain.st", "not a taper checkpoint");
}

TEST_CASE("a last batch of one image is skipped, and a corrupt metrics file stops a resume") {
  BlockData data;
  TempDir runs;
  // 480 images, 48 held out: 432 = 431 + 1, so the second batch has one image.
  RunResult r = run_taper("train --model lenet5 --data mnist --batch 431 --epochs 1 --threads 1 --out " +
                          runs / "odd");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto m = read_metrics(runs / "odd/metrics.jsonl");
  REQUIRE(m.size() == 1);
  CHECK(std::isfinite(m[0]["train_loss"].get<double>()));

  // Make the finished 1-epoch run a 2-epoch one that stopped after epoch 1,
  // then break its metrics file: resume must refuse with a clear message.
  SafeTensors last = load_safetensors(runs / "odd/last.safetensors");
  json cfg = json::parse(last.metadata.at("config"));
  cfg["epochs"] = 2;
  last.metadata["config"] = cfg.dump();
  save_safetensors(runs / "odd/last.safetensors", last);
  write_text(runs / "odd/metrics.jsonl", "{\"epoch\": 1, \"lr\": \n");
  expect_usage_error("train --resume " + runs / "odd", "metrics.jsonl: line 1 is not valid JSON");
}
