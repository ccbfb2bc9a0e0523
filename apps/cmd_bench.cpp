// taper bench MODEL.json [--wbits SPEC] [--abits K] [--width W | --match-size S] [--batch 128]
//   [--steps 12] [--warmup 2] [--threads 2] [--label NAME] [--json]
// Training and inference throughput on random data, measured the way the
// PyTorch peer script (torch_anchor.py, kept outside this repository)
// measures it, so the two programs print comparable JSON lines. A training
// step is train_step (models/train_step.h), the one `taper train` runs.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/model_choice.h"
#include "engine/autograd.h"
#include "engine/comm.h"
#include "engine/error.h"
#include "engine/optimizer.h"
#include "engine/parallel.h"
#include "engine/profiler.h"
#include "engine/rng.h"
#include "layers/loss.h"
#include "models/export.h"
#include "models/model.h"
#include "models/packed_model.h"
#include "models/train_step.h"

namespace taper::app {

static const char* kUsage =
    "usage: taper bench MODEL.json [--wbits SPEC] [--abits K] [--width W | --match-size S]\n"
    "                   [--batch 128] [--steps 12] [--warmup 2] [--threads 2] [--label NAME]\n"
    "                   [--packed] [--json]\n"
    "  Measures training and inference throughput on random data, as the\n"
    "  PyTorch peer script torch_anchor.py does for PyTorch:\n"
    "    weights initialized with seed 0; input (batch, C, H, W) standard normal,\n"
    "    labels uniform in [0, classes);\n"
    "    training mode: --warmup untimed steps, then --steps timed full training\n"
    "    steps (zero_grad, forward, softmax cross-entropy, backward, SGD step with\n"
    "    lr 0.01, momentum 0.9, weight decay 2e-4);\n"
    "    eval mode, no gradients: --warmup untimed and --steps timed forwards.\n"
    "  Weight decay applies to conv and linear weights only (taper's parameter\n"
    "  groups; torch_anchor.py decays every parameter, batch norm included).\n"
    "  --wbits SPEC     32 | k | a-b-c... (one per stage) | progressive:K   (default 32)\n"
    "  --abits K        activation bits, 1-8 or 32 (default 32)\n"
    "  --width W        multiply every hidden layer's channels by W\n"
    "  --match-size S   instead of --width: the largest width at which this policy's\n"
    "                   weight bytes do not exceed those of policy S at width 1\n"
    "  --batch N        images per step, 1..4096 (default 128)\n"
    "  --steps N        timed steps per phase, 1..10000 (default 12)\n"
    "  --profile        also print the time per op type of a training step (stderr)\n"
    "  --warmup N       untimed steps before each phase, 0..1000 (default 2)\n"
    "  --threads T      worker threads, 1..256 (default 2)\n"
    "  --label NAME     the \"config\" field (default \"fp32\" when all weights and\n"
    "                   activations are 32-bit, else \"w<wbits>a<abits>\"; the width\n"
    "                   is not part of it)\n"
    "  --packed         time the integer engine instead (models/packed_model.h): the\n"
    "                   seed-0 weights are quantized, packed and loaded in memory as\n"
    "                   taper export + load would (no file); no training phase\n"
    "                   (train_img_s is null); needs --abits 1..8 where weights are\n"
    "                   quantized\n"
    "  --no-train       skip the training phase (train_img_s is null)\n"
    "  --json           one JSON line: model, config, threads, batch, train_img_s,\n"
    "                   infer_img_s, peak_rss_mb (throughputs in images/s, peak\n"
    "                   resident memory of the process so far in MiB, both rounded\n"
    "                   to 0.1); under mpirun also \"ranks\": training is then data\n"
    "                   parallel (train_img_s counts the global batch), inference and\n"
    "                   memory are rank 0's; with --packed also \"engine\": \"integer\",\n"
    "                   resident_weight_bytes (what the engine keeps of the model)\n"
    "                   and resident_code_bytes (the integer layers' weights)\n";

// Rounds to one decimal, as torch_anchor.py's round(x, 1).
static double round1(double v) { return std::round(v * 10.0) / 10.0; }

// The process's peak resident set size so far, in MiB (ru_maxrss is KiB on Linux).
static double peak_rss_mb() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// "fp32" when every stage and the activations are 32-bit, else "w<wbits>a<abits>".
static std::string default_label(const ModelChoice& c) {
  bool all_fp32 = c.abits == 32;
  for (int b : c.stage_bits) all_fp32 = all_fp32 && b == 32;
  return all_fp32 ? "fp32" : "w" + c.wbits + "a" + std::to_string(c.abits);
}

using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int cmd_bench(int argc, char** argv) {
  Args args(argc, argv, {"--json", "--profile", "--packed", "--no-train"});
  if (args.help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positional(1, "the model file");
  const bool as_json = args.flag("--json");
  const bool profile = args.flag("--profile");
  const bool packed = args.flag("--packed");
  const bool no_train = args.flag("--no-train");
  const int64_t batch = args.get_int("--batch", 128, 1, 4096);
  const int64_t steps = args.get_int("--steps", 12, 1, 10000);
  const int64_t warmup = args.get_int("--warmup", 2, 0, 1000);
  const int threads = static_cast<int>(args.get_int("--threads", 2, 1, 256));
  auto label = args.get("--label");
  if (label && label->empty()) fail("--label: expected a non-empty name");
  set_num_threads(threads);
  ModelChoice c = read_model_choice(args, args.positional()[0]);
  args.finish();
  const std::string config = label ? *label : default_label(c);

  Model model(c.spec, BuildOptions{c.stage_bits, c.abits});
  model.init(0);

  // Random data: x (batch, C, H, W) standard normal, labels (batch) in [0, classes).
  Shape in_shape{batch};
  in_shape.append(c.spec.input.begin(), c.spec.input.end());
  Var x{Tensor(in_shape)};  // (batch, C, H, W)
  Rng rng(0, 1);
  float* xd = x.data.data();
  for (int64_t i = 0; i < x.data.numel(); ++i) xd[i] = rng.normal();
  std::vector<int64_t> labels(static_cast<size_t>(batch));  // (batch)
  for (auto& l : labels) l = static_cast<int64_t>(rng.below(static_cast<uint64_t>(c.spec.classes)));

  if (packed) {
    PackedModel pm(export_packed(model, c.wbits, c.width, {}, {}));
    Clock::time_point t0;
    std::unique_ptr<Profiler> profiler;
    for (int64_t i = 0; i < warmup + steps; ++i) {
      if (i == warmup) {
        t0 = Clock::now();
        if (profile) profiler = std::make_unique<Profiler>();
      }
      pm.forward(x.data);
    }
    const double infer_s = seconds_since(t0);
    if (profiler) {
      std::fprintf(stderr, "integer engine forward, per layer type and role (%lld forwards):\n",
                   static_cast<long long>(steps));
      profiler->print(stderr, static_cast<int>(steps), "per forward");
    }
    const double infer_img_s = round1(static_cast<double>(batch * steps) / infer_s);
    const double rss_mb = round1(peak_rss_mb());
    if (as_json) {
      nlohmann::ordered_json j;
      j["model"] = c.spec.name;
      j["config"] = config;
      j["threads"] = threads;
      j["batch"] = batch;
      j["train_img_s"] = nullptr;
      j["infer_img_s"] = infer_img_s;
      j["peak_rss_mb"] = rss_mb;
      j["engine"] = "integer";
      j["resident_weight_bytes"] = pm.resident_weight_bytes();
      j["resident_code_bytes"] = pm.resident_code_bytes();
      std::printf("%s\n", j.dump().c_str());
      return 0;
    }
    std::printf("bench %s, %s (wbits %s, abits %d, width %g), packed integer engine\n", c.spec.name.c_str(),
                config.c_str(), c.wbits.c_str(), c.abits, c.width);
    std::printf("batch %lld, %d thread%s, %lld timed forwards after %lld warm-up\n", static_cast<long long>(batch),
                threads, threads == 1 ? "" : "s", static_cast<long long>(steps), static_cast<long long>(warmup));
    std::printf("inference %10.1f img/s   (integer engine)\n", infer_img_s);
    std::printf("weights   %10lld bytes resident (%lld of them the integer layers' codes)\n",
                static_cast<long long>(pm.resident_weight_bytes()), static_cast<long long>(pm.resident_code_bytes()));
    std::printf("peak RSS  %10.1f MB\n", rss_mb);
    return 0;
  }

  SGD opt(model.param_groups(2e-4f), 0.01f, 0.9f, /*nesterov=*/false);
  SoftmaxCrossEntropy loss_op;
  Tape tape;

  // Training: warm-up steps, then the timed ones (per op too with --profile).
  model.set_training(true);
  Clock::time_point t0;
  std::unique_ptr<Profiler> profiler;
  for (int64_t i = 0; i < (no_train ? 0 : warmup + steps); ++i) {
    if (i == warmup) {
      t0 = Clock::now();
      if (profile) profiler = std::make_unique<Profiler>();
    }
    const StepResult r = train_step(model, opt, loss_op, x, labels, tape);
    if (!r.finite) fail("the loss became ", r.loss, " at step ", i + 1, " (weights at seed 0, random data)");
  }
  const double train_s = no_train ? 0.0 : seconds_since(t0);
  if (profiler) {
    std::fprintf(stderr, "training step, per op type (%lld steps, %.2f ms per step measured outside):\n",
                 static_cast<long long>(steps), 1e3 * train_s / steps);
    profiler->print(stderr, static_cast<int>(steps), "per step");
    profiler.reset();
  }

  // Inference: eval mode (running statistics), nothing cached or recorded.
  model.set_training(false);
  double infer_s = 0.0;
  {
    NoGrad no_grad(tape);
    for (int64_t i = 0; i < warmup + steps; ++i) {
      if (i == warmup) t0 = Clock::now();
      model.forward(x, tape);
    }
    infer_s = seconds_since(t0);
  }

  const double images = static_cast<double>(batch * steps);
  const double train_img_s = round1(images / train_s);
  const double infer_img_s = round1(images / infer_s);
  const double rss_mb = round1(peak_rss_mb());

  if (as_json) {
    nlohmann::ordered_json j;
    j["model"] = c.spec.name;
    j["config"] = config;
    j["threads"] = threads;
    j["batch"] = batch;
    if (no_train)
      j["train_img_s"] = nullptr;
    else
      j["train_img_s"] = train_img_s;
    j["infer_img_s"] = infer_img_s;
    j["peak_rss_mb"] = rss_mb;
    // Under mpirun: training is data parallel over the ranks (train_img_s
    // counts the global batch); inference and memory are one rank's.
    if (comm_size() > 1) j["ranks"] = comm_size();
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("bench %s, %s (wbits %s, abits %d, width %g)\n", c.spec.name.c_str(), config.c_str(),
              c.wbits.c_str(), c.abits, c.width);
  std::printf("batch %lld, %d thread%s, %lld timed steps after %lld warm-up\n",
              static_cast<long long>(batch), threads, threads == 1 ? "" : "s",
              static_cast<long long>(steps), static_cast<long long>(warmup));
  if (!no_train) std::printf("train     %10.1f img/s   (forward, loss, backward, SGD step)\n", train_img_s);
  std::printf("inference %10.1f img/s   (eval mode, no gradients)\n", infer_img_s);
  std::printf("peak RSS  %10.1f MB\n", rss_mb);
  return 0;
}

}  // namespace taper::app
