// taper export / eval / forward on packed files, end to end: a short
// lenet5 run at 2-bit weights and activations, exported, evaluated by the
// integer engine and by the float engine on the same images (same class for
// every image, logits within the documented tolerance); bad packed files
// get exit code 2 and a message naming the file and the tensor.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/safetensors.h"
#include "support/block_data.h"
#include "support/files.h"
#include "support/run_taper.h"

using namespace taper;
using namespace taper::testing;
using nlohmann::json;

namespace {

// Trains lenet5 w2a2 for one short epoch and exports it; returns the run folder.
struct PackedRun {
  BlockData data;
  TempDir dir;
  std::string ckpt, packed;
  PackedRun() {
    RunResult r = run_taper("train --model lenet5 --data mnist --batch 32 --lr 0.05 --seed 7 --wbits 2 --abits 2 "
                            "--epochs 1 --limit 320 --threads 2 --out " + dir / "run");
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    ckpt = dir / "run/best.safetensors";
    packed = dir / "lenet5.taper";
    RunResult e = run_taper("export " + dir / "run --out " + packed + " --json");
    INFO(e.out << e.err);
    REQUIRE(e.exit_code == 0);
    json j = json::parse(e.out);
    CHECK(j["tensor_bytes"] == j["total_bytes"]);
    CHECK(j["file_bytes"].get<int64_t>() <= j["total_bytes"].get<int64_t>() + 64 * 1024);
  }
};

}  // namespace

TEST_CASE("a packed lenet5 evaluates like its float checkpoint") {
  PackedRun run;
  RunResult a = run_taper("eval " + run.packed + " --json --logits " + run.dir / "int.st");
  RunResult b = run_taper("eval " + run.ckpt + " --json --logits " + run.dir / "float.st");
  INFO(a.err << b.err);
  REQUIRE(a.exit_code == 0);
  REQUIRE(b.exit_code == 0);
  json ja = json::parse(a.out), jb = json::parse(b.out);
  CHECK(ja["engine"] == "integer");
  CHECK(jb["engine"] == "float");
  CHECK(ja["count"] == 160);
  const SafeTensors la = load_safetensors(run.dir / "int.st"), lb = load_safetensors(run.dir / "float.st");
  const Tensor x = la.get("logits"), y = lb.get("logits");
  REQUIRE(x.shape() == y.shape());
  // docs/packed-format.md, "Agreement with the float engine": a code can
  // only flip where a pre-activation is within a few ulps of a rounding
  // boundary; away from such flips the logits agree to float rounding.
  int same_class = 0, close = 0;
  const int64_t N = x.dim(0), K = x.dim(1);
  for (int64_t n = 0; n < N; ++n) {
    int64_t ax = 0, ay = 0;
    for (int64_t k = 0; k < K; ++k) {
      close += std::fabs(x[n * K + k] - y[n * K + k]) <= 1e-4f * (1.0f + std::fabs(y[n * K + k]));
      if (x[n * K + k] > x[n * K + ax]) ax = k;
      if (y[n * K + k] > y[n * K + ay]) ay = k;
    }
    same_class += ax == ay;
  }
  CHECK(same_class == N);
  CHECK(close >= N * K * 99 / 100);
  CHECK(std::fabs(ja["accuracy"].get<double>() - jb["accuracy"].get<double>()) <= 1e-9);

  // taper forward on the packed file: the same logits as eval for the same images.
  RunResult f = run_taper("forward " + run.packed + " --input " + run.dir / "missing.st --output " + run.dir / "o.st");
  CHECK(f.exit_code == 2);
}

TEST_CASE("bad packed files get exit code 2 naming the file and the tensor") {
  PackedRun run;
  const std::string good = read_text(run.packed);
  const std::string bad = run.dir / "bad.taper";
  auto eval_bad = [&](const std::string& bytes, const std::string& needle) {
    write_text(bad, bytes);
    expect_usage_error("eval " + bad, needle);
    expect_usage_error("eval " + bad, bad);
  };
  // Truncated: the last tensor's data runs past the end.
  eval_bad(good.substr(0, good.size() - 10), "run past the end of the data buffer");
  // Corrupted header: a dtype that does not exist.
  {
    std::string b = good;
    const size_t at = b.find("\"dtype\":\"U8\"");
    REQUIRE(at != std::string::npos);
    b[at + 10] = 'X';
    eval_bad(b, "unknown dtype 'UX'");
  }
  // Corrupted data: a direction byte that is not -1, 0 or 1.
  {
    SafeTensors st = load_safetensors(run.packed);
    st.entries["bn3.direction"].bytes[2] = 7;
    save_safetensors(bad, st);
    expect_usage_error("eval " + bad, "tensor 'bn3.direction' channel 2");
  }
  // Wrong version.
  {
    SafeTensors st = load_safetensors(run.packed);
    st.metadata["format_version"] = "99";
    save_safetensors(bad, st);
    expect_usage_error("eval " + bad, "packed format version \"99\"");
  }
  // Mismatched: the tensors of another policy under this one's metadata.
  {
    SafeTensors st = load_safetensors(run.packed);
    st.metadata["wbits"] = "1";
    st.metadata["stage_bits"] = "1-1-1";
    save_safetensors(bad, st);
    expect_usage_error("eval " + bad, "mismatched packed file");
    expect_usage_error("forward " + bad + " --input x --output y", "mismatched packed file");
  }
}
