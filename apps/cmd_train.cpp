// taper train — trains a network on a data set the way the paper does, with
// checkpoints, resume, metrics, curves and the test accuracy at the best
// validation epoch. See `taper train --help` and docs/training.md.
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "apps/files.h"
#include "apps/interrupt.h"
#include "apps/model_choice.h"
#include "apps/plot.h"
#include "apps/progress.h"
#include "apps/run_config.h"
#include "apps/run_data.h"
#include "data/loader.h"
#include "data/registry.h"
#include "engine/comm.h"
#include "engine/error.h"
#include "engine/lr_schedule.h"
#include "engine/parallel.h"
#include "layers/loss.h"
#include "models/checkpoint.h"
#include "models/train_step.h"
#include "quant/policy.h"
#include "models/size.h"

namespace taper::app {

static const char* kUsage =
    "usage: taper train [--run RUN.json] [flags]     (flags override the run file)\n"
    "       taper train --resume DIR                  (continue an interrupted run)\n"
    "  --model FILE         model file or shipped model name (required)\n"
    "  --data NAME          mnist | fashion-mnist | cifar10 | cifar10-bin:DIR | cifar100-bin:DIR |\n"
    "                       folder:DIR[@SIZE]  (default: fashion-mnist for 1x28x28 models,\n"
    "                       cifar10 for 3x32x32)\n"
    "  --wbits SPEC         32 | k | a-b-c... | progressive:K        (default 32)\n"
    "  --abits K            1-8 or 32                                (default 32)\n"
    "  --width W            channel width multiplier                 (default 1)\n"
    "  --match-size SPEC    instead of --width: the widest width whose weight bytes do not exceed SPEC's\n"
    "  --optimizer NAME     sgd | adam | adamw                       (default sgd)\n"
    "  --lr X --momentum X --nesterov --weight-decay X   (defaults 0.1, 0.9, off, 2e-4;\n"
    "                       weight decay applies to conv and linear weights only)\n"
    "  --schedule NAME      multistep | cosine | constant            (default multistep)\n"
    "  --milestones a,b,c   multistep epochs (default 40%,60%,80% of --epochs; lr x0.1 each)\n"
    "  --gamma X            multistep factor                          (default 0.1)\n"
    "  --warmup N           linear warm-up epochs                     (default 0)\n"
    "  --epochs N --batch B --seed S --threads T     (defaults 200, 128, 0, all cores)\n"
    "  --val-split F        share of the training set held out        (default 0.1)\n"
    "  --normalize dataset|none   per-channel mean/std of the training split (default dataset)\n"
    "  --augment none|flip|crop|crop+flip   (default crop+flip for CIFAR and folders, none otherwise)\n"
    "  --limit N            use the first N training images only (quick tries)\n"
    "  --out DIR            run folder (default runs/<model>-w<wbits>-a<abits>)\n"
    "Writes DIR/config.json, metrics.jsonl, size.json, last.safetensors, best.safetensors,\n"
    "curves.png and result.json; reports the test accuracy at the best validation epoch.\n";

namespace {

std::string default_data(const ModelSpec& spec) {
  if (spec.input == Shape{1, 28, 28}) return "fashion-mnist";
  if (spec.input == Shape{3, 32, 32}) return "cifar10";
  fail("model ", spec.name, " has input ", shape_str(spec.input), ": give --data");
}

std::string default_augment(const std::string& data) {
  if (data.rfind("cifar", 0) == 0 || data.rfind("folder:", 0) == 0) return "crop+flip";
  return "none";
}

nlohmann::ordered_json metrics_json(const EpochMetrics& e) {
  nlohmann::ordered_json j;
  j["epoch"] = e.epoch;
  char lr[32];
  std::snprintf(lr, sizeof lr, "%.7g", e.lr);  // the float lr without its binary noise digits
  j["lr"] = std::stod(lr);
  j["train_loss"] = e.train_loss;
  j["train_acc"] = e.train_acc;
  j["val_loss"] = e.has_val ? nlohmann::ordered_json(e.val_loss) : nlohmann::ordered_json(nullptr);
  j["val_acc"] = e.has_val ? nlohmann::ordered_json(e.val_acc) : nlohmann::ordered_json(nullptr);
  j["test_acc"] = e.test_acc;
  j["img_s"] = std::round(e.img_s * 10.0) / 10.0;
  j["seconds"] = std::round(e.seconds * 100.0) / 100.0;
  return j;
}

EpochMetrics metrics_from_json(const nlohmann::json& j, const std::string& where) {
  try {
    EpochMetrics e;
    e.epoch = j.at("epoch").get<int>();
    e.lr = j.at("lr").get<double>();
    e.train_loss = j.at("train_loss").get<double>();
    e.train_acc = j.at("train_acc").get<double>();
    e.has_val = !j.at("val_acc").is_null();
    if (e.has_val) e.val_loss = j.at("val_loss").get<double>(), e.val_acc = j.at("val_acc").get<double>();
    e.test_acc = j.at("test_acc").get<double>();
    e.img_s = j.at("img_s").get<double>();
    e.seconds = j.at("seconds").get<double>();
    return e;
  } catch (const nlohmann::json::exception& ex) {
    fail(where, ": bad metrics line: ", ex.what());
  }
}

// ---- the run, step by step: resume or setup, the epochs, the result --------

// What a run carries from setup through its epochs to the result.
struct Run {
  RunConfig cfg;
  int start_epoch = 0;  // epochs already done (a resumed run)
  std::string out;      // the run folder
  std::string metrics_path;
  std::unique_ptr<Model> model;
  Dataset train, val, test;
  Transform train_transform, eval_transform;
  std::unique_ptr<Optimizer> opt;
  LrSchedule schedule;
  std::vector<EpochMetrics> history;
  // The best epoch so far: highest validation accuracy (first on ties);
  // without a validation split, the last epoch.
  double best_val = -1.0;
  int best_epoch = 0;
  double best_test = 0.0;
  // TAPER_STEP_LOG=FILE (rank 0): one JSON line per step with its loss, for
  // comparing two runs step by step (docs/distributed.md); null when unset.
  FILE* step_log = nullptr;
  // Where the epoch in progress stands: batches done and their sums, and
  // the seconds it has run. A run resumed from a checkpoint written by a
  // clean stop (SIGINT/SIGTERM, apps/interrupt.h) starts its first epoch
  // from here; otherwise all zero.
  struct Partial {
    int64_t batches = 0;  // batches of the epoch already consumed
    int64_t steps = 0;    // training steps among them
    double loss_sum = 0.0;
    int64_t correct = 0, seen = 0;
    double seconds = 0.0;
  } partial;
  ~Run() {
    if (step_log) std::fclose(step_log);
  }
};

// --resume DIR: the checkpoint, the run's own settings and the epochs done.
// False when the run has already finished, result.json included (said on stdout).
bool read_resume(const std::string& dir, int argc, Run& run, SafeTensors& ckpt) {
  if (argc != 3) fail("--resume DIR takes no other flags: the run continues with its own settings");
  const std::string last = dir + "/last.safetensors";
  if (!file_exists(last)) fail(dir, ": no last.safetensors to resume from");
  try {
    ckpt = load_safetensors(last);
  } catch (const Error& e) {
    // A damaged last checkpoint: say so, and point at best.safetensors when
    // it is intact (a run can continue from it).
    const std::string best = dir + "/best.safetensors";
    std::string hint = " No intact best.safetensors to fall back on: start the run again.";
    if (file_exists(best)) {
      try {
        SafeTensors b = load_safetensors(best);
        hint = " " + best + " is intact (epoch " + checkpoint_meta(b, "epoch") +
               "): to continue from it, copy it over last.safetensors (cp " + best + " " + last +
               ") and resume again.";
      } catch (const Error&) {
        hint = " best.safetensors is damaged too: start the run again.";
      }
    }
    fail(last, " is damaged and cannot be resumed from: ", e.what(), "." + hint);
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(checkpoint_meta(ckpt, "config"));
  } catch (const nlohmann::json::parse_error& e) {
    fail(last, ": checkpoint metadata \"config\" is not valid JSON");
  }
  run.cfg = run_config_from_json(j, last + " (config)");
  run.start_epoch =
      static_cast<int>(parse_int(checkpoint_meta(ckpt, "epoch"), last + " epoch", 0, run.cfg.epochs));
  if (ckpt.metadata.count("epoch_batches")) {  // written by a clean stop in the middle of an epoch
    Run::Partial& p = run.partial;
    p.batches = parse_int(checkpoint_meta(ckpt, "epoch_batches"), last + " epoch_batches", 1, INT64_MAX);
    p.steps = parse_int(checkpoint_meta(ckpt, "epoch_steps"), last + " epoch_steps", 0, p.batches);
    p.loss_sum = parse_double(checkpoint_meta(ckpt, "epoch_loss_sum"), last + " epoch_loss_sum", 0.0, 1e300);
    p.correct = parse_int(checkpoint_meta(ckpt, "epoch_correct"), last + " epoch_correct", 0, INT64_MAX);
    p.seen = parse_int(checkpoint_meta(ckpt, "epoch_seen"), last + " epoch_seen", 0, INT64_MAX);
    p.seconds = parse_double(checkpoint_meta(ckpt, "epoch_seconds"), last + " epoch_seconds", 0.0, 1e12);
  } else {
    check(run.start_epoch >= 1, last, ": checkpoint epoch 0 without a position in the epoch");
  }
  // A run killed after its last checkpoint but before result.json goes on
  // to write result.json (no epoch left to train).
  if (run.start_epoch >= run.cfg.epochs && file_exists(dir + "/result.json")) {
    std::printf("%s: the run already finished its %d epochs\n", dir.c_str(), run.cfg.epochs);
    return false;
  }
  return true;
}

// The network: from the checkpoint when resuming, else built from the model
// file and initialized with the seed (which also settles the default data
// set and augmentation).
void setup_model(Run& run, const SafeTensors* ckpt) {
  RunConfig& cfg = run.cfg;
  if (ckpt) {
    run.model = model_from_checkpoint(*ckpt);
    return;
  }
  ModelSpec base = load_model_file(resolve_model_path(cfg.model));
  BuildOptions options{parse_wbits(cfg.wbits, base.num_stages), cfg.abits};
  run.model = std::make_unique<Model>(cfg.width == 1.0 ? base : apply_width(base, cfg.width), options);
  run.model->init(cfg.seed);
  if (cfg.data.empty()) cfg.data = default_data(base);
  if (cfg.augment.empty()) cfg.augment = default_augment(cfg.data);
}

// The data: a seeded validation split of the (limited) training set, the
// test set, and the normalization measured on the training split.
void setup_data(Run& run) {
  const RunConfig& cfg = run.cfg;
  const ModelSpec& spec = run.model->spec();
  load_run_split(cfg.data, cfg.limit, cfg.val_split, cfg.seed, run.train, run.val);
  run.test = load_dataset(cfg.data, "test");
  const Dataset& train = run.train;
  check(Shape{train.channels, train.height, train.width} == spec.input, "data set ", cfg.data, " has images ",
        shape_str({train.channels, train.height, train.width}), " but model ", spec.name, " takes ",
        shape_str(spec.input));
  check(train.classes <= spec.classes, "data set ", cfg.data, " has ", train.classes, " classes but model ",
        spec.name, " outputs ", spec.classes);
  if (cfg.normalize == "dataset") {
    ChannelStats stats = channel_stats(train);
    run.eval_transform.mean = stats.mean;
    run.eval_transform.std = stats.std;
  }
  run.train_transform = run.eval_transform;
  run.train_transform.augment = parse_augment(cfg.augment);
}

// Optimizer and learning-rate schedule.
void setup_optimizer(Run& run) {
  const RunConfig& cfg = run.cfg;
  auto groups = run.model->param_groups(static_cast<float>(cfg.weight_decay));
  if (cfg.optimizer == "sgd")
    run.opt = std::make_unique<SGD>(groups, cfg.lr, cfg.momentum, cfg.nesterov);
  else
    run.opt = std::make_unique<Adam>(groups, cfg.lr, 0.9f, 0.999f, 1e-8f, cfg.optimizer == "adamw");
  LrSchedule& schedule = run.schedule;
  schedule.kind = cfg.schedule;
  schedule.base_lr = static_cast<float>(cfg.lr);
  schedule.milestones = cfg.milestones;
  schedule.gamma = static_cast<float>(cfg.gamma);
  schedule.total_epochs = cfg.epochs;
  schedule.warmup_epochs = cfg.warmup;
  validate(schedule);
}

// Resume: the optimizer state and the best epoch from the checkpoint, and
// the history from metrics.jsonl, cut to the checkpoint's epoch.
void resume_folder(Run& run, const SafeTensors& ckpt) {
  const RunConfig& cfg = run.cfg;
  run.opt->load_state(ckpt, kOptimizerPrefix);
  run.best_epoch = static_cast<int>(parse_int(checkpoint_meta(ckpt, "best_epoch"), "best_epoch", 0, cfg.epochs));
  run.best_val = parse_double(checkpoint_meta(ckpt, "best_val_acc"), "best_val_acc", -1.0, 1.0);
  run.best_test = parse_double(checkpoint_meta(ckpt, "best_test_acc"), "best_test_acc", 0.0, 1.0);
  std::ifstream f(run.metrics_path);
  std::string line;
  std::vector<EpochMetrics>& history = run.history;
  while (static_cast<int>(history.size()) < run.start_epoch && std::getline(f, line)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error&) {
      fail(run.metrics_path, ": line ", history.size() + 1, " is not valid JSON");
    }
    history.push_back(metrics_from_json(j, run.metrics_path));
  }
  check(static_cast<int>(history.size()) == run.start_epoch, run.metrics_path, ": has ", history.size(),
        " epochs but the checkpoint is at epoch ", run.start_epoch);
  std::string kept;
  for (const auto& e : history) kept += metrics_json(e).dump() + "\n";
  if (comm_is_root())  // under mpirun, rank 0 writes the run folder
    write_file_atomic(run.metrics_path, kept);  // drops lines of an epoch that did not finish its checkpoint
  if (run.partial.batches)
    std::printf("resuming %s in epoch %d of %d after step %lld\n", run.out.c_str(), run.start_epoch + 1,
                cfg.epochs, static_cast<long long>(run.partial.steps));
  else if (run.start_epoch < cfg.epochs)
    std::printf("resuming %s at epoch %d of %d\n", run.out.c_str(), run.start_epoch + 1, cfg.epochs);
  else
    std::printf("%s: all %d epochs are done; writing result.json\n", run.out.c_str(), cfg.epochs);
}

// A new run: the folder (refusing one that holds a run), config.json,
// size.json and an empty metrics.jsonl.
void create_folder(Run& run) {
  const RunConfig& cfg = run.cfg;
  const std::string& out = run.out;
  if (file_exists(out + "/last.safetensors"))
    fail(out, " already holds a run (last.safetensors): resume it with --resume ", out,
         " or choose another --out");
  if (!comm_is_root()) return;  // under mpirun, rank 0 writes the run folder
  make_dirs(out);
  write_file_atomic(out + "/config.json", cfg.to_json().dump(2) + "\n");
  write_file_atomic(out + "/size.json",
             size_json(run.model->spec(), cfg.wbits, run.model->options().stage_bits, cfg.abits, cfg.width)
                     .dump(2) + "\n");
  write_file_atomic(run.metrics_path, "");
}

void print_start(const Run& run, const SizeReport& size) {
  const RunConfig& cfg = run.cfg;
  const ModelSpec& spec = run.model->spec();
  std::printf("train %s on %s: %lld train, %lld val, %lld test images; wbits %s (%s), abits %d, width %g\n",
              spec.name.c_str(), cfg.data.c_str(), static_cast<long long>(run.train.n),
              static_cast<long long>(run.val.n), static_cast<long long>(run.test.n), cfg.wbits.c_str(),
              spec.num_stages ? bits_to_string(run.model->options().stage_bits).c_str() : "-", cfg.abits,
              cfg.width);
  if (size.quantized_params)
    std::printf("average weight bits %.4f, weight bytes %lld (computed)\n", size.avg_weight_bits,
                static_cast<long long>(size.weight_bytes));
}

// How an epoch ended: finished (metrics filled), the loss stopped being
// finite (said on stderr), or a stop signal arrived (run.partial says where).
enum class EpochEnd { done, diverged, stopped };

// One epoch: the learning rate from the schedule, a train_step per batch,
// then the validation and test accuracy. Starts from run.partial (a run
// resumed in the middle of this epoch) and leaves it there when stopped.
EpochEnd run_epoch(Run& run, BatchLoader& loader, int epoch, EpochMetrics& e) {
  const RunConfig& cfg = run.cfg;
  const auto t0 = std::chrono::steady_clock::now();
  Run::Partial& p = run.partial;
  auto elapsed = [&] {
    return p.seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  run.opt->lr = run.schedule.lr_at(epoch);
  run.model->set_training(true);
  loader.start_epoch(static_cast<uint64_t>(epoch), p.batches);
  Progress progress(epoch + 1, cfg.epochs, loader.num_batches(), p.steps, p.seen);
  SoftmaxCrossEntropy ce;
  Tape tape;
  Var x;
  std::vector<int64_t> labels;
  while (loader.next(x.data, labels)) {
    ++p.batches;
    // A last batch of a single image cannot train batch norm (one value
    // per channel has no variance; PyTorch fails the same way): skip it.
    // Under mpirun every rank needs an image: a last batch smaller than the
    // number of ranks is skipped too (on every rank alike).
    if (labels.size() < 2 || static_cast<int64_t>(labels.size()) < comm_size()) continue;
    const StepResult r = train_step(*run.model, *run.opt, ce, x, labels, tape);
    const int64_t step = p.steps++;
    if (!r.finite) {
      progress.finish();
      std::fprintf(stderr,
                   "taper train: the loss became %s at epoch %d, step %lld; stopped. The last good checkpoint "
                   "is %s/last.safetensors%s (try a lower --lr)\n",
                   std::isnan(r.loss) ? "NaN" : "infinite", epoch + 1, static_cast<long long>(step + 1),
                   run.out.c_str(),
                   epoch > run.start_epoch || run.start_epoch > 0 ? "" : " (none yet: this was the first epoch)");
      return EpochEnd::diverged;
    }
    if (run.step_log) std::fprintf(run.step_log, "{\"epoch\":%d,\"step\":%lld,\"images\":%zu,\"loss\":%.9g}\n",
                                   epoch + 1, static_cast<long long>(step + 1), labels.size(), r.loss);
    p.correct += r.correct;
    p.loss_sum += r.loss * labels.size();
    p.seen += static_cast<int64_t>(labels.size());
    progress.update(step, p.loss_sum / p.seen, static_cast<double>(p.correct) / p.seen, p.seen);
    // A stop signal ends the epoch here, unless this was its last batch
    // (then the epoch finishes and its ordinary checkpoint is the stop's).
    if (p.batches < loader.num_batches() && stop_requested()) {
      progress.finish();
      p.seconds = elapsed();
      return EpochEnd::stopped;
    }
  }
  progress.finish();
  const double train_secs = elapsed();

  e = EpochMetrics();
  e.epoch = epoch + 1;
  e.lr = run.opt->lr;
  e.train_loss = p.loss_sum / p.seen;
  e.train_acc = static_cast<double>(p.correct) / p.seen;
  e.img_s = p.seen / train_secs;
  if (run.val.n) {
    EvalResult v = evaluate(*run.model, run.val, run.eval_transform, cfg.batch);
    e.has_val = true;
    e.val_loss = v.loss;
    e.val_acc = v.acc;
  }
  e.test_acc = evaluate(*run.model, run.test, run.eval_transform, cfg.batch).acc;
  e.seconds = elapsed();
  p = Run::Partial();  // the next epoch starts at its beginning
  return EpochEnd::done;
}

// What a checkpoint records besides the tensors: the run's settings and
// state after `epochs_done` whole epochs, and the position in the epoch in
// progress when a stop signal cut it short (run.partial).
std::map<std::string, std::string> checkpoint_metadata(const Run& run, int epochs_done) {
  const RunConfig& cfg = run.cfg;
  std::map<std::string, std::string> meta = {
      {"config", cfg.to_json().dump()},
      {"epoch", std::to_string(epochs_done)},
      {"best_epoch", std::to_string(run.best_epoch)},
      {"best_val_acc", std::to_string(run.best_val)},
      {"best_test_acc", std::to_string(run.best_test)},
      {"data", cfg.data},
      {"normalize_mean", nlohmann::json(run.eval_transform.mean).dump()},
      {"normalize_std", nlohmann::json(run.eval_transform.std).dump()},
      {"val_split", std::to_string(cfg.val_split)},
      {"split_seed", std::to_string(cfg.seed)},
      {"limit", std::to_string(cfg.limit)},
  };
  const Run::Partial& p = run.partial;
  if (p.batches > 0) {
    char num[64];
    meta["epoch_batches"] = std::to_string(p.batches);
    meta["epoch_steps"] = std::to_string(p.steps);
    std::snprintf(num, sizeof num, "%.17g", p.loss_sum);  // exact: the resumed epoch's mean is the same
    meta["epoch_loss_sum"] = num;
    meta["epoch_correct"] = std::to_string(p.correct);
    meta["epoch_seen"] = std::to_string(p.seen);
    std::snprintf(num, sizeof num, "%.17g", p.seconds);
    meta["epoch_seconds"] = num;
  }
  return meta;
}

// A stop signal in the middle of epoch `epoch`: last.safetensors at this
// step (best.safetensors and the metrics stay those of finished epochs).
void checkpoint_stop(const Run& run, int epoch) {
  if (!comm_is_root()) return;
  SafeTensors st;
  build_checkpoint(st, *run.model, run.cfg.wbits, run.cfg.width, run.opt.get(), checkpoint_metadata(run, epoch));
  save_safetensors(run.out + "/last.safetensors", st);
}

// Records a finished epoch: the history, the best epoch, then the files in
// the order resume relies on (metrics first, then the checkpoints, so a
// checkpoint never points past the metrics file), then the curves. Returns
// whether this epoch is the best so far.
bool checkpoint_epoch(Run& run, const EpochMetrics& e) {
  const RunConfig& cfg = run.cfg;
  const bool has_val = run.val.n > 0;
  run.history.push_back(e);
  const bool best = has_val ? e.val_acc > run.best_val : true;
  if (best) {
    run.best_val = has_val ? e.val_acc : -1.0;
    run.best_epoch = e.epoch;
    run.best_test = e.test_acc;
  }
  if (!comm_is_root()) return best;  // under mpirun, rank 0 writes the run folder
  SafeTensors st;
  build_checkpoint(st, *run.model, cfg.wbits, cfg.width, run.opt.get(), checkpoint_metadata(run, e.epoch));
  {
    std::ofstream f(run.metrics_path, std::ios::app);
    f << metrics_json(e).dump() << "\n";
    if (!f) fail(run.metrics_path, ": cannot append");
  }
  if (best) save_safetensors(run.out + "/best.safetensors", st);
  save_safetensors(run.out + "/last.safetensors", st);
  write_curves_png(run.out + "/curves.png", run.history);
  return best;
}

void print_epoch(const Run& run, const EpochMetrics& e, bool best) {
  std::printf("epoch %d/%d  lr %.4g  train loss %.4f acc %.2f%%", e.epoch, run.cfg.epochs, e.lr, e.train_loss,
              100.0 * e.train_acc);
  if (e.has_val) std::printf("  val loss %.4f acc %.2f%%", e.val_loss, 100.0 * e.val_acc);
  std::printf("  test acc %.2f%%  %.0f img/s  %.1fs%s\n", 100.0 * e.test_acc, e.img_s, e.seconds,
              best && run.val.n ? "  (best)" : "");
  std::fflush(stdout);
}

// result.json and the closing lines.
void finish_run(const Run& run, const SizeReport& size) {
  const RunConfig& cfg = run.cfg;
  nlohmann::ordered_json result;
  result["model"] = run.model->spec().name;
  result["data"] = cfg.data;
  result["wbits"] = cfg.wbits;
  result["abits"] = cfg.abits;
  result["width"] = cfg.width;
  result["epochs"] = cfg.epochs;
  result["best_epoch"] = run.best_epoch;
  result["best_val_acc"] = run.val.n ? nlohmann::ordered_json(run.best_val) : nlohmann::ordered_json(nullptr);
  result["test_acc_at_best"] = run.best_test;
  result["final_test_acc"] = run.history.back().test_acc;
  result["avg_weight_bits"] = size.avg_weight_bits;
  result["weight_bytes"] = size.weight_bytes;
  result["total_bytes"] = size.total_bytes;
  result["seconds"] = [&] {
    double s = 0;
    for (const auto& e : run.history) s += e.seconds;
    return s;
  }();
  if (comm_is_root()) write_file_atomic(run.out + "/result.json", result.dump(2) + "\n");
  if (run.val.n)
    std::printf("test accuracy at the best validation epoch (%d): %.2f%%\n", run.best_epoch,
                100.0 * run.best_test);
  else
    std::printf("no validation split: test accuracy after the last epoch: %.2f%%\n", 100.0 * run.best_test);
  std::printf("run folder: %s\n", run.out.c_str());
}

}  // namespace

int cmd_train(int argc, char** argv) {
  Args args(argc, argv, {"--nesterov"});
  if (args.help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positional(0, "");
  auto resume = args.get("--resume");

  Run run;
  SafeTensors ckpt;
  if (resume) {
    if (!read_resume(*resume, argc, run, ckpt)) return 0;
  } else {
    run.cfg = read_run_config(args);
    args.finish();
  }
  set_num_threads(run.cfg.threads);
  install_stop_handlers();
  setup_model(run, resume ? &ckpt : nullptr);
  setup_data(run);
  setup_optimizer(run);
  run.out = resume ? *resume : run.cfg.out;
  run.metrics_path = run.out + "/metrics.jsonl";
  if (resume)
    resume_folder(run, ckpt);
  else
    create_folder(run);
  const SizeReport size = size_report(run.model->spec(), run.model->options().stage_bits, run.model->options().abits);
  print_start(run, size);

  LoaderOptions lo;
  lo.batch_size = run.cfg.batch;
  lo.shuffle = true;
  lo.seed = run.cfg.seed;
  lo.transform = run.train_transform;
  BatchLoader loader(run.train, lo);
  if (const char* path = std::getenv("TAPER_STEP_LOG"); path && *path && comm_is_root()) {
    run.step_log = std::fopen(path, "a");
    if (!run.step_log) fail("TAPER_STEP_LOG=", path, ": cannot open for appending");
    std::setvbuf(run.step_log, nullptr, _IOLBF, 0);
  }
  for (int epoch = run.start_epoch; epoch < run.cfg.epochs; ++epoch) {
    EpochMetrics e;
    const EpochEnd end = run_epoch(run, loader, epoch, e);
    if (end == EpochEnd::diverged) return 1;
    if (end == EpochEnd::done) {
      const bool best = checkpoint_epoch(run, e);
      print_epoch(run, e, best);
    } else {
      checkpoint_stop(run, epoch);
    }
    if (const int sig = stop_requested(); sig && (end == EpochEnd::stopped || epoch + 1 < run.cfg.epochs)) {
      const std::string where = end == EpochEnd::stopped
                                    ? "in epoch " + std::to_string(epoch + 1) + " after step " +
                                          std::to_string(run.partial.steps)
                                    : "after epoch " + std::to_string(epoch + 1);
      std::printf("stopped by %s %s; checkpoint %s/last.safetensors. Resume with:\n  taper train --resume %s\n",
                  sig == SIGINT ? "SIGINT" : "SIGTERM", where.c_str(), run.out.c_str(), run.out.c_str());
      std::fflush(stdout);
      return 128 + sig;
    }
  }
  finish_run(run, size);
  return 0;
}

}  // namespace taper::app
