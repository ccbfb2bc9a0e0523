// taper sweep and taper report, run as the program: a tiny grid (lenet5 on
// the first 512 Fashion-MNIST images, 2 epochs, 2 cells) swept once without
// interruption and once killed with SIGKILL in the middle and started again
// gives the same results.csv (but for the "seconds" column, wall time); bad
// grid files exit with code 2 and name the key; train --match-size records
// the matched width.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/files.h"
#include "support/run_taper.h"

using namespace taper::testing;

namespace {

bool data_available() {
  struct stat st;
  const char* home = std::getenv("HOME");
  return home && stat((std::string(home) + "/.cache/taper/fashion-mnist").c_str(), &st) == 0;
}

bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

const char* kTinyGrid = R"({
  "name": "tiny",
  "models": ["lenet5"],
  "data": ["fashion-mnist"],
  "policies": [{"wbits": "2", "abits": 2}, {"wbits": "1", "abits": 2, "match_size": "2"}],
  "seeds": [1],
  "recipe": {"epochs": 2, "limit": 512, "batch": 64, "schedule": "cosine", "val_split": 0.25}
})";

// results.csv without its "seconds" column (wall time differs between runs).
std::string without_seconds(const std::string& csv) {
  std::stringstream in(csv);
  std::string line, out;
  int col = -1;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ls(line);
    std::string c;
    while (std::getline(ls, c, ',')) cells.push_back(c);
    if (col < 0)
      for (size_t i = 0; i < cells.size(); ++i)
        if (cells[i] == "seconds") col = static_cast<int>(i);
    REQUIRE(col >= 0);
    REQUIRE(static_cast<int>(cells.size()) > col);
    cells.erase(cells.begin() + col);
    for (const auto& x : cells) out += x + ",";
    out += "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("sweep: bad grid files exit 2 naming the key") {
  TempDir dir;
  auto bad = [&](const std::string& grid, const std::string& needle) {
    write_text(dir / "g.json", grid);
    expect_usage_error("sweep " + (dir / "g.json") + " --out " + (dir / "out") + " --threads 1", needle);
    CHECK(!exists(dir / "out"));  // nothing ran
  };
  const std::string base = R"("name": "g", "models": ["lenet5"], "data": ["fashion-mnist"], "seeds": [1])";
  const std::string pol = R"("policies": [{"wbits": "2", "abits": 2}])";
  bad("{" + base + ", " + pol + R"(, "epochz": 3})", "unknown key \"epochz\"");
  bad("{" + base + R"(, "policies": [{"wbits": "2", "abits": 2, "bits": 3}]})", "unknown key \"bits\"");
  bad("{" + base + R"(, "policies": []})", "\"policies\" is empty");
  bad(R"({"name": "g", "models": ["lenet5"], "data": ["fashion-mnist"], "seeds": [], )" + pol + "}",
      "\"seeds\" is empty");
  bad("{" + base + R"(, "widths": [], )" + pol + "}", "\"widths\" is empty");
  bad(R"({"name": "g", "data": ["fashion-mnist"], "seeds": [1], )" + pol + "}", "missing \"models\"");
  bad("{" + base + ", " + pol + R"(, "recipe": {"epochs": 1, "lrr": 0.1}})", "unknown key \"lrr\"");
  bad("{" + base + ", " + pol + R"(, "recipe": {"seed": 3}})", "\"recipe\" key \"seed\"");
  // A model the width cannot shrink (its only layer reads the input and writes
  // the classes): 2-bit weights never fit in the bytes of 1-bit ones.
  write_text(dir / "fixed.json", R"({"name": "fixed", "input": [1, 28, 28], "classes": 10, "layers": [
    {"name": "flat", "type": "flatten"},
    {"name": "fc", "type": "linear", "out_features": "classes", "stage": 1}]})");
  bad(R"({"name": "g", "models": [")" + (dir / "fixed.json") + R"("], "data": ["fashion-mnist"], "seeds": [1],
      "policies": [{"wbits": "2", "abits": 2, "match_size": "1"}]})",
      "policies\"[0].match_size");
  bad("{" + base + R"(, "policies": [{"wbits": "2", "abits": 2, "match_size": "1-1"}]})", "match_size");
  bad("{" + base + R"(, "policies": [{"wbits": "4-2", "abits": 2}]})", "policies\"[0]");
  bad("{" + base + R"(, "policies": [{"wbits": "2", "abits": 2, "width": 1.5, "match_size": "1"}]})",
      "not both");
  write_text(dir / "ok.json", "{" + base + ", " + pol + "}");
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  expect_usage_error("sweep " + (dir / "ok.json") + " --out " + (dir / "out") + " --jobs " + std::to_string(cores) +
                         " --threads 2",
                     "exceed the");
  expect_usage_error("sweep " + (dir / "ok.json") + " --threads 1", "give --out");
  expect_usage_error("report " + (dir / "nothing"), "cannot open the folder");
}

TEST_CASE("sweep: killed with SIGKILL and restarted, the same results.csv") {
  if (!data_available()) {
    WARN("Fashion-MNIST not installed (scripts/get-data.sh): skipped");
    return;
  }
  TempDir dir;
  write_text(dir / "tiny.json", kTinyGrid);

  // Uninterrupted.
  RunResult a = run_taper("sweep " + (dir / "tiny.json") + " --out " + (dir / "a") + " --threads 1");
  INFO(a.out << a.err);
  REQUIRE(a.exit_code == 0);
  for (const char* f : {"results.csv", "summary.md", "pareto.png", "curves.png"}) CHECK(exists(dir / "a/" + std::string(f)));

  // Killed when the second run (the match_size one) has its first
  // checkpoint, then started again: the second start skips the finished
  // first run and resumes the second, which must keep its matched width
  // (results.csv has the width column).
  const std::string bin = taper_bin();
  std::fflush(stdout);  // nothing buffered is written twice by the child
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    execl(bin.c_str(), bin.c_str(), "sweep", (dir / "tiny.json").c_str(), "--out", (dir / "b").c_str(),
          "--threads", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string first = dir / "b/lenet5-fashion-mnist-w1-a2-match2-s1/last.safetensors";
  for (int i = 0; i < 6000 && !exists(first); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(exists(first));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the run dies with the sweep (PDEATHSIG)
  RunResult b = run_taper("sweep " + (dir / "tiny.json") + " --out " + (dir / "b") + " --threads 1");
  INFO(b.out << b.err);
  REQUIRE(b.exit_code == 0);
  CHECK(b.out.find("1 finished, 1 to run") != std::string::npos);
  CHECK(b.out.find("lenet5-fashion-mnist-w1-a2-match2-s1 (resume)") != std::string::npos);
  CHECK(without_seconds(read_text(dir / "a/results.csv")) == without_seconds(read_text(dir / "b/results.csv")));
  CHECK(read_text(dir / "a/results.csv").find("lenet5-fashion-mnist-w1-a2-match2-s1") != std::string::npos);

  // A third start has nothing to do; report alone rewrites the same table.
  RunResult c = run_taper("sweep " + (dir / "tiny.json") + " --out " + (dir / "b") + " --threads 1");
  CHECK(c.exit_code == 0);
  CHECK(c.out.find("2 finished, 0 to run") != std::string::npos);
  RunResult r = run_taper("report " + (dir / "a"));
  CHECK(r.exit_code == 0);
  CHECK(without_seconds(read_text(dir / "a/results.csv")) == without_seconds(read_text(dir / "b/results.csv")));

  // A folder of another grid's run is never overwritten.
  std::string other = kTinyGrid;
  other.replace(other.find("\"epochs\": 2"), 11, "\"epochs\": 3");
  write_text(dir / "other.json", other);
  expect_usage_error("sweep " + (dir / "other.json") + " --out " + (dir / "b") + " --threads 1", "other settings");
}

TEST_CASE("sweep: a run killed under a running sweep fails alone; the next start finishes it") {
  if (!data_available()) {
    WARN("Fashion-MNIST not installed (scripts/get-data.sh): skipped");
    return;
  }
  TempDir dir;
  write_text(dir / "tiny.json", kTinyGrid);
  RunResult a = run_taper("sweep " + (dir / "tiny.json") + " --out " + (dir / "a") + " --threads 1");
  REQUIRE(a.exit_code == 0);

  const std::string bin = taper_bin();
  std::fflush(stdout);  // nothing buffered is written twice by the child
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    freopen((dir / "sweep.out").c_str(), "w", stdout);
    execl(bin.c_str(), bin.c_str(), "sweep", (dir / "tiny.json").c_str(), "--out", (dir / "b").c_str(),
          "--threads", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill the first run (the sweep's child) once it has a checkpoint.
  const std::string first = dir / "b/lenet5-fashion-mnist-w2-a2-x1-s1/last.safetensors";
  for (int i = 0; i < 6000 && !exists(first); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(exists(first));
  std::string children = read_text("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  REQUIRE(!children.empty());
  kill(static_cast<pid_t>(std::stol(children)), SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);  // the sweep went on and reported the failure
  const std::string out = read_text(dir / "sweep.out");
  CHECK(out.find("FAILED lenet5-fashion-mnist-w2-a2-x1-s1: killed by signal 9") != std::string::npos);
  CHECK(out.find("done   lenet5-fashion-mnist-w1-a2-match2-s1") != std::string::npos);
  RunResult b = run_taper("sweep " + (dir / "tiny.json") + " --out " + (dir / "b") + " --threads 1");
  INFO(b.out << b.err);
  REQUIRE(b.exit_code == 0);
  CHECK(without_seconds(read_text(dir / "a/results.csv")) == without_seconds(read_text(dir / "b/results.csv")));
}

TEST_CASE("train --match-size records the matched width") {
  if (!data_available()) {
    WARN("Fashion-MNIST not installed (scripts/get-data.sh): skipped");
    return;
  }
  TempDir dir;
  RunResult r = run_taper("train --model lenet5 --wbits 1 --abits 2 --match-size 2 --epochs 1 --limit 256 --threads 1 "
                          "--out " + (dir / "run"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto cfg = nlohmann::json::parse(read_text(dir / "run/config.json"));
  RunResult s = run_taper("summary lenet5 --wbits 1 --match-size 2 --json");
  REQUIRE(s.exit_code == 0);
  CHECK(cfg["match_size"] == "2");
  CHECK(cfg["width"].get<double>() == nlohmann::json::parse(s.out)["width"].get<double>());
  CHECK(cfg["width"].get<double>() > 1.0);
  expect_usage_error("train --model lenet5 --wbits 1 --match-size 2 --width 2 --epochs 1 --out " + (dir / "x"),
                     "disagree");
  expect_usage_error("train --model lenet5 --wbits 2 --match-size 1-1 --epochs 1 --out " + (dir / "x"), "match_size");
}

TEST_CASE("sweep: the shipped grids are valid") {
  for (const char* g : {"cifar10-resnet20-table2", "cifar10-resnet20-isosize", "fmnist-vgg7-table2",
                        "fmnist-vgg7-isosize"}) {
    RunResult r = run_taper(std::string("sweep experiments/") + g + ".json --list --threads 1");
    INFO(g << ": " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("10 runs") != std::string::npos);  // 5 policies x 2 seeds
  }
  RunResult w = run_taper("sweep experiments/fmnist-vgg7-width.json --list --threads 1");
  INFO(w.err);
  CHECK(w.exit_code == 0);
  CHECK(w.out.find("2 runs") != std::string::npos);  // one policy x 2 seeds
  CHECK(w.out.find("-x1.404-s2  width 1.404") != std::string::npos);
}
