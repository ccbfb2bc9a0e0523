// taper train — trains a network on a data set the way the paper does, with
// checkpoints, resume, metrics, curves and the test accuracy at the best
// validation epoch. See `taper train --help` and docs/training.md.
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "apps/model_choice.h"
#include "apps/plot.h"
#include "apps/progress.h"
#include "apps/run_config.h"
#include "apps/run_data.h"
#include "data/loader.h"
#include "data/registry.h"
#include "engine/error.h"
#include "engine/lr_schedule.h"
#include "engine/parallel.h"
#include "layers/loss.h"
#include "models/checkpoint.h"
#include "quant/policy.h"
#include "quant/size.h"

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

bool exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

void make_dirs(const std::string& path) {
  std::string part;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!part.empty() && !exists(part) && mkdir(part.c_str(), 0755) != 0 && !exists(part))
        fail(part, ": cannot create the folder");
    }
    if (i < path.size()) part += path[i];
  }
}

void write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f) fail(tmp, ": cannot write");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(path, ": cannot rename ", tmp, " over it");
}

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

}  // namespace

int cmd_train(int argc, char** argv) {
  Args args(argc, argv, {"--nesterov"});
  if (args.help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positional(0, "");
  auto resume = args.get("--resume");

  RunConfig cfg;
  SafeTensors ckpt;
  int start_epoch = 0;
  if (resume) {
    if (argc != 3) fail("--resume DIR takes no other flags: the run continues with its own settings");
    const std::string last = *resume + "/last.safetensors";
    if (!exists(last)) fail(*resume, ": no last.safetensors to resume from");
    ckpt = load_safetensors(last);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(checkpoint_meta(ckpt, "config"));
    } catch (const nlohmann::json::parse_error& e) {
      fail(last, ": checkpoint metadata \"config\" is not valid JSON");
    }
    cfg = run_config_from_json(j, last + " (config)");
    start_epoch = static_cast<int>(parse_int(checkpoint_meta(ckpt, "epoch"), last + " epoch", 1, cfg.epochs));
    if (start_epoch >= cfg.epochs) {
      std::printf("%s: the run already finished its %d epochs\n", resume->c_str(), cfg.epochs);
      return 0;
    }
  } else {
    cfg = read_run_config(args);
    args.finish();
  }
  set_num_threads(cfg.threads);

  // The network.
  std::unique_ptr<Model> model;
  if (resume) {
    model = model_from_checkpoint(ckpt);
  } else {
    ModelSpec base = load_model_file(resolve_model_path(cfg.model));
    BuildOptions options{parse_wbits(cfg.wbits, base.num_stages), cfg.abits};
    model = std::make_unique<Model>(cfg.width == 1.0 ? base : apply_width(base, cfg.width), options);
    model->init(cfg.seed);
    if (cfg.data.empty()) cfg.data = default_data(base);
    if (cfg.augment.empty()) cfg.augment = default_augment(cfg.data);
  }
  const ModelSpec& spec = model->spec();

  // The data: a seeded validation split of the (limited) training set.
  Dataset train, val;
  load_run_split(cfg.data, cfg.limit, cfg.val_split, cfg.seed, train, val);
  Dataset test = load_dataset(cfg.data, "test");
  check(Shape{train.channels, train.height, train.width} == spec.input, "data set ", cfg.data, " has images ",
        shape_str({train.channels, train.height, train.width}), " but model ", spec.name, " takes ",
        shape_str(spec.input));
  check(train.classes <= spec.classes, "data set ", cfg.data, " has ", train.classes, " classes but model ",
        spec.name, " outputs ", spec.classes);
  Transform eval_transform;
  if (cfg.normalize == "dataset") {
    ChannelStats stats = channel_stats(train);
    eval_transform.mean = stats.mean;
    eval_transform.std = stats.std;
  }
  Transform train_transform = eval_transform;
  train_transform.augment = parse_augment(cfg.augment);

  // Optimizer and schedule.
  std::unique_ptr<Optimizer> opt;
  auto groups = model->param_groups(static_cast<float>(cfg.weight_decay));
  if (cfg.optimizer == "sgd")
    opt = std::make_unique<SGD>(groups, cfg.lr, cfg.momentum, cfg.nesterov);
  else
    opt = std::make_unique<Adam>(groups, cfg.lr, 0.9f, 0.999f, 1e-8f, cfg.optimizer == "adamw");
  LrSchedule schedule;
  schedule.kind = cfg.schedule;
  schedule.base_lr = static_cast<float>(cfg.lr);
  schedule.milestones = cfg.milestones;
  schedule.gamma = static_cast<float>(cfg.gamma);
  schedule.total_epochs = cfg.epochs;
  schedule.warmup_epochs = cfg.warmup;
  validate(schedule);

  // The run folder, its history, and the best epoch so far.
  const std::string out = resume ? *resume : cfg.out;
  const std::string metrics_path = out + "/metrics.jsonl";
  std::vector<EpochMetrics> history;
  double best_val = -1.0;
  int best_epoch = 0;
  double best_test = 0.0;
  if (resume) {
    opt->load_state(ckpt, kOptimizerPrefix);
    best_epoch = static_cast<int>(parse_int(checkpoint_meta(ckpt, "best_epoch"), "best_epoch", 0, cfg.epochs));
    best_val = parse_double(checkpoint_meta(ckpt, "best_val_acc"), "best_val_acc", -1.0, 1.0);
    best_test = parse_double(checkpoint_meta(ckpt, "best_test_acc"), "best_test_acc", 0.0, 1.0);
    std::ifstream f(metrics_path);
    std::string line;
    while (static_cast<int>(history.size()) < start_epoch && std::getline(f, line)) {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error&) {
        fail(metrics_path, ": line ", history.size() + 1, " is not valid JSON");
      }
      history.push_back(metrics_from_json(j, metrics_path));
    }
    check(static_cast<int>(history.size()) == start_epoch, metrics_path, ": has ", history.size(),
          " epochs but the checkpoint is at epoch ", start_epoch);
    std::string kept;
    for (const auto& e : history) kept += metrics_json(e).dump() + "\n";
    write_file(metrics_path, kept);  // drops lines of an epoch that did not finish its checkpoint
    std::printf("resuming %s at epoch %d of %d\n", out.c_str(), start_epoch + 1, cfg.epochs);
  } else {
    if (exists(out + "/last.safetensors"))
      fail(out, " already holds a run (last.safetensors): resume it with --resume ", out,
           " or choose another --out");
    make_dirs(out);
    write_file(out + "/config.json", cfg.to_json().dump(2) + "\n");
    write_file(out + "/size.json", size_json(spec, cfg.wbits, model->options().stage_bits, cfg.abits, cfg.width)
                                       .dump(2) + "\n");
    write_file(metrics_path, "");
  }
  const SizeReport size = size_report(spec, model->options().stage_bits);
  std::printf("train %s on %s: %lld train, %lld val, %lld test images; wbits %s (%s), abits %d, width %g\n",
              spec.name.c_str(), cfg.data.c_str(), static_cast<long long>(train.n), static_cast<long long>(val.n),
              static_cast<long long>(test.n), cfg.wbits.c_str(),
              spec.num_stages ? bits_to_string(model->options().stage_bits).c_str() : "-", cfg.abits, cfg.width);
  if (size.quantized_params)
    std::printf("average weight bits %.4f, weight bytes %lld (computed)\n", size.avg_weight_bits,
                static_cast<long long>(size.weight_bytes));

  LoaderOptions lo;
  lo.batch_size = cfg.batch;
  lo.shuffle = true;
  lo.seed = cfg.seed;
  lo.transform = train_transform;
  BatchLoader loader(train, lo);
  std::vector<NamedParam> params = model->parameters();
  SoftmaxCrossEntropy ce;
  Var x;
  std::vector<int64_t> labels;

  for (int epoch = start_epoch; epoch < cfg.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    opt->lr = schedule.lr_at(epoch);
    model->set_training(true);
    loader.start_epoch(static_cast<uint64_t>(epoch));
    Progress progress(epoch + 1, cfg.epochs, loader.num_batches());
    double loss_sum = 0.0;
    int64_t correct = 0, seen = 0, step = 0;
    while (loader.next(x.data, labels)) {
      // A last batch of a single image cannot train batch norm (one value
      // per channel has no variance; PyTorch fails the same way): skip it.
      if (labels.size() < 2) continue;
      opt->zero_grad();
      Tape tape;
      Var& logits = model->forward(x, tape);
      Var& loss = ce.forward(logits, labels, tape);
      const double l = loss.data[0];
      if (!std::isfinite(l)) {
        progress.finish();
        std::fprintf(stderr,
                     "taper train: the loss became %s at epoch %d, step %lld; stopped. The last good checkpoint "
                     "is %s/last.safetensors%s (try a lower --lr)\n",
                     std::isnan(l) ? "NaN" : "infinite", epoch + 1, static_cast<long long>(step + 1), out.c_str(),
                     epoch > start_epoch || start_epoch > 0 ? "" : " (none yet: this was the first epoch)");
        return 1;
      }
      correct += count_correct(logits.data, labels);
      tape.backward(loss);
      opt->step();
      loss_sum += l * labels.size();
      seen += static_cast<int64_t>(labels.size());
      progress.update(step++, loss_sum / seen, static_cast<double>(correct) / seen, seen);
    }
    progress.finish();
    const double train_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    EpochMetrics e;
    e.epoch = epoch + 1;
    e.lr = opt->lr;
    e.train_loss = loss_sum / seen;
    e.train_acc = static_cast<double>(correct) / seen;
    e.img_s = seen / train_secs;
    if (val.n) {
      EvalResult v = evaluate(*model, val, eval_transform, cfg.batch);
      e.has_val = true;
      e.val_loss = v.loss;
      e.val_acc = v.acc;
    }
    e.test_acc = evaluate(*model, test, eval_transform, cfg.batch).acc;
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    history.push_back(e);

    // Best = highest validation accuracy (first on ties); without a
    // validation split, the last epoch.
    const bool best = val.n ? e.val_acc > best_val : true;
    if (best) {
      best_val = val.n ? e.val_acc : -1.0;
      best_epoch = e.epoch;
      best_test = e.test_acc;
    }
    std::map<std::string, std::string> meta = {
        {"config", cfg.to_json().dump()},
        {"epoch", std::to_string(e.epoch)},
        {"best_epoch", std::to_string(best_epoch)},
        {"best_val_acc", std::to_string(best_val)},
        {"best_test_acc", std::to_string(best_test)},
        {"data", cfg.data},
        {"normalize_mean", nlohmann::json(eval_transform.mean).dump()},
        {"normalize_std", nlohmann::json(eval_transform.std).dump()},
        {"val_split", std::to_string(cfg.val_split)},
        {"split_seed", std::to_string(cfg.seed)},
        {"limit", std::to_string(cfg.limit)},
    };
    SafeTensors st;
    build_checkpoint(st, *model, cfg.wbits, cfg.width, opt.get(), meta);
    // Order matters for resume: metrics first, then the checkpoint, so a
    // checkpoint never points past the metrics file.
    {
      std::ofstream f(metrics_path, std::ios::app);
      f << metrics_json(e).dump() << "\n";
      if (!f) fail(metrics_path, ": cannot append");
    }
    if (best) save_safetensors(out + "/best.safetensors", st);
    save_safetensors(out + "/last.safetensors", st);
    write_curves_png(out + "/curves.png", history);

    std::printf("epoch %d/%d  lr %.4g  train loss %.4f acc %.2f%%", e.epoch, cfg.epochs, e.lr, e.train_loss,
                100.0 * e.train_acc);
    if (e.has_val) std::printf("  val loss %.4f acc %.2f%%", e.val_loss, 100.0 * e.val_acc);
    std::printf("  test acc %.2f%%  %.0f img/s  %.1fs%s\n", 100.0 * e.test_acc, e.img_s, e.seconds,
                best && val.n ? "  (best)" : "");
    std::fflush(stdout);
  }

  nlohmann::ordered_json result;
  result["model"] = spec.name;
  result["data"] = cfg.data;
  result["wbits"] = cfg.wbits;
  result["abits"] = cfg.abits;
  result["width"] = cfg.width;
  result["epochs"] = cfg.epochs;
  result["best_epoch"] = best_epoch;
  result["best_val_acc"] = val.n ? nlohmann::ordered_json(best_val) : nlohmann::ordered_json(nullptr);
  result["test_acc_at_best"] = best_test;
  result["final_test_acc"] = history.back().test_acc;
  result["avg_weight_bits"] = size.avg_weight_bits;
  result["weight_bytes"] = size.weight_bytes;
  result["total_bytes"] = size.total_bytes;
  result["seconds"] = [&] {
    double s = 0;
    for (const auto& e : history) s += e.seconds;
    return s;
  }();
  write_file(out + "/result.json", result.dump(2) + "\n");
  if (val.n)
    std::printf("test accuracy at the best validation epoch (%d): %.2f%%\n", best_epoch, 100.0 * best_test);
  else
    std::printf("no validation split: test accuracy after the last epoch: %.2f%%\n", 100.0 * best_test);
  std::printf("run folder: %s\n", out.c_str());
  return 0;
}

}  // namespace taper::app
