// `taper bench`: the JSON line it prints (the same fields, in the same order,
// as the PyTorch peer script torch_anchor.py, kept outside this repository),
// its config labels, and exit code 2 on bad flags. Runs tiny benchmarks;
// speed itself is never asserted.
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/run_taper.h"

using namespace taper::testing;
using ordered_json = nlohmann::ordered_json;

namespace {

// A run small enough to take well under a second on lenet5.
const std::string kTiny = " --batch 8 --steps 2 --warmup 1 --threads 1";

const std::vector<std::string> kFields = {"model",       "config",      "threads",    "batch",
                                          "train_img_s", "infer_img_s", "peak_rss_mb"};

// Runs taper, requires exit 0 and exactly one line on stdout, and parses it.
ordered_json run_json(const std::string& args) {
  RunResult r = run_taper(args);
  INFO("taper " << args << "\nstdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  REQUIRE(r.out.back() == '\n');
  return ordered_json::parse(r.out);
}

std::vector<std::string> keys(const ordered_json& j) {
  std::vector<std::string> k;
  for (const auto& item : j.items()) k.push_back(item.key());
  return k;
}

// True when v has at most one decimal (it was rounded to 0.1).
bool one_decimal(double v) {
  const double tenths = v * 10.0;
  return std::fabs(tenths - std::round(tenths)) < 1e-6 * std::max(1.0, std::fabs(tenths));
}

}  // namespace

TEST_CASE("bench --json prints one line with exactly the anchor's fields") {
  ordered_json j = run_json("bench lenet5" + kTiny + " --json");
  CHECK(keys(j) == kFields);
  CHECK(j["model"] == "lenet5");
  CHECK(j["config"] == "fp32");
  CHECK(j["threads"].is_number_integer());
  CHECK(j["threads"] == 1);
  CHECK(j["batch"].is_number_integer());
  CHECK(j["batch"] == 8);
  for (const char* f : {"train_img_s", "infer_img_s", "peak_rss_mb"}) {
    INFO(f << " = " << j[f]);
    REQUIRE(j[f].is_number());
    CHECK(j[f].get<double>() > 0.0);
    CHECK(one_decimal(j[f].get<double>()));
  }
}

TEST_CASE("bench: the config label is derived from the bits unless --label is given") {
  CHECK(run_json("bench lenet5" + kTiny + " --json --wbits 32 --abits 32")["config"] == "fp32");
  CHECK(run_json("bench lenet5" + kTiny + " --json --wbits 32-32-32")["config"] == "fp32");
  CHECK(run_json("bench lenet5" + kTiny + " --json --wbits 2 --abits 2")["config"] == "w2a2");
  CHECK(run_json("bench lenet5" + kTiny + " --json --wbits 8-4-2 --abits 2")["config"] ==
        "w8-4-2a2");
  CHECK(run_json("bench lenet5" + kTiny + " --json --wbits 4")["config"] == "w4a32");
  CHECK(run_json("bench lenet5" + kTiny + " --json --abits 4")["config"] == "w32a4");
  ordered_json labelled =
      run_json("bench lenet5" + kTiny + " --json --wbits 8-4-2 --abits 2 --label progressive");
  CHECK(labelled["config"] == "progressive");
  CHECK(keys(labelled) == kFields);
}

TEST_CASE("bench: --threads and --batch are reported as given, --width runs") {
  ordered_json j = run_json("bench lenet5 --batch 3 --steps 1 --warmup 0 --threads 2 --width 0.5 --json");
  CHECK(j["threads"] == 2);
  CHECK(j["batch"] == 3);
  CHECK(j["train_img_s"].get<double>() > 0.0);
  CHECK(j["infer_img_s"].get<double>() > 0.0);
}

TEST_CASE("bench without --json prints a readable report") {
  RunResult r = run_taper("bench lenet5" + kTiny + " --wbits 2 --abits 2");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("lenet5") != std::string::npos);
  CHECK(r.out.find("w2a2") != std::string::npos);
  CHECK(r.out.find("train") != std::string::npos);
  CHECK(r.out.find("inference") != std::string::npos);
  CHECK(r.out.find("img/s") != std::string::npos);
  CHECK(r.out.find("peak RSS") != std::string::npos);
  CHECK(r.out.front() != '{');
}

TEST_CASE("bench: --help lists the flags") {
  RunResult r = run_taper("bench --help");
  REQUIRE(r.exit_code == 0);
  for (const char* f : {"--batch", "--steps", "--warmup", "--threads", "--label", "--json", "--wbits",
                        "--abits", "--width", "weight decay"})
    CHECK(r.out.find(f) != std::string::npos);
}

TEST_CASE("bench: bad flags exit with 2") {
  expect_usage_error("bench", "missing the model file");
  expect_usage_error("bench nosuchmodel", "no shipped model of that name");
  expect_usage_error("bench lenet5 --batch 0", "--batch: 0 is out of range [1, 4096]");
  expect_usage_error("bench lenet5 --batch 4097", "--batch: 4097 is out of range [1, 4096]");
  expect_usage_error("bench lenet5 --batch 8x", "--batch: expected an integer");
  expect_usage_error("bench lenet5 --steps 0", "--steps: 0 is out of range [1, 10000]");
  expect_usage_error("bench lenet5 --steps 10001", "--steps: 10001 is out of range [1, 10000]");
  expect_usage_error("bench lenet5 --warmup -1", "--warmup: -1 is out of range [0, 1000]");
  expect_usage_error("bench lenet5 --warmup 1001", "--warmup: 1001 is out of range [0, 1000]");
  expect_usage_error("bench lenet5 --threads 0", "--threads: 0 is out of range [1, 256]");
  expect_usage_error("bench lenet5 --threads 257", "--threads: 257 is out of range [1, 256]");
  expect_usage_error("bench lenet5 --label ''", "--label: expected a non-empty name");
  expect_usage_error("bench lenet5 --wbits 9", "weight bits are 1-8 or 32");
  expect_usage_error("bench lenet5 --abits 0", "activation bits are 1-8 or 32");
  expect_usage_error("bench lenet5 --width 0", "--width: 0 is out of range");
  expect_usage_error("bench lenet5 --stpes 3", "unknown flag --stpes");
  expect_usage_error("bench lenet5 --json=1", "takes no value");
  expect_usage_error("bench lenet5 --batch", "flag --batch needs a value");
  expect_usage_error("bench lenet5 lenet5", "unexpected argument");
}
