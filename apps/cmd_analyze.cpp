// taper analyze CHECKPOINT — why bits can decrease with depth: how separable
// the classes are at every quantizable layer's output (kNN accuracy, Fisher
// ratio, t-SNE pictures like Fig. 3 of the method paper), and with
// --sensitivity, how much each stage suffers at 1, 2, 4 and 8 bits. See
// docs/analysis.md for the method.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "analysis/features.h"
#include "analysis/separability.h"
#include "analysis/sensitivity.h"
#include "analysis/tsne.h"
#include "apps/files.h"
#include "apps/args.h"
#include "apps/plot.h"
#include "apps/run_data.h"
#include "data/loader.h"
#include "data/registry.h"
#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/rng.h"
#include "models/checkpoint.h"
#include "quant/policy.h"
#include "models/size.h"

namespace taper::app {

static const char* kUsage =
    "usage: taper analyze CHECKPOINT.safetensors [--data NAME] [--per-class N] [--seed S] [--out DIR]\n"
    "                     [--json] [--perplexity P] [--iterations N] [--batch B] [--threads T]\n"
    "                     [--sensitivity [--bn-batches K] [--val-limit N] [--keep-scale]]\n"
    "  For every quantizable layer's output (after its activation) on a seeded sample of N\n"
    "  test images per class (default 50): kNN accuracy (k = 5, leave one out) and Fisher\n"
    "  ratio of the features (conv outputs globally average-pooled per channel), and a\n"
    "  t-SNE scatter (perplexity 30, 1000 iterations) per layer plus all layers in one\n"
    "  figure. The input pixels are analysed too, as a reference row.\n"
    "  --sensitivity  also: per stage, the validation loss and accuracy with only that\n"
    "                 stage's weights at 1, 2, 4 and 8 bits (the float weights of the\n"
    "                 checkpoint, no retraining; batch norm statistics re-estimated on\n"
    "                 K training batches of 128, default 20, for every setting and the\n"
    "                 baseline). --val-limit uses the first N validation images only.\n"
    "  --keep-scale   (with --sensitivity, full-precision checkpoints) quantize the stage's\n"
    "                 weights and rescale each output channel to the layer's own scale\n"
    "                 (least squares), so that only the precision changes, not the\n"
    "                 scale DoReFa's [-1, 1] grid gives a layer.\n"
    "  Writes DIR/analysis.json, DIR/tsne_all.png, DIR/tsne_<layer>.png and, with\n"
    "  --sensitivity, DIR/sensitivity.json (for --wbits auto:BYTES@FILE in train and summary).\n"
    "  DIR defaults to <checkpoint's folder>/analysis. --json prints analysis.json.\n";

namespace {

constexpr int kKnn = 5;                // neighbours for the kNN accuracy
constexpr int64_t kBnBatchSize = 128;  // images per batch norm re-estimation batch

// JSON has no infinity or NaN: those become null.
nlohmann::ordered_json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nullptr; }

std::vector<std::string> class_names(const std::string& data, int64_t classes) {
  std::vector<std::string> names;
  if (data == "fashion-mnist" && classes == 10)
    names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  else if ((data == "cifar10" || data.rfind("cifar10-bin:", 0) == 0) && classes == 10)
    names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  else
    for (int64_t c = 0; c < classes; ++c) names.push_back(data == "mnist" ? std::to_string(c) : "class " + std::to_string(c));
  return names;
}

// `per_class` images of every class, the first ones of a seeded shuffle,
// listed class by class.
std::vector<int64_t> sample_per_class(const Dataset& d, int64_t per_class, uint64_t seed) {
  std::vector<int64_t> order(d.n);
  for (int64_t i = 0; i < d.n; ++i) order[i] = i;
  Rng rng(seed);
  rng.shuffle(order);
  std::vector<std::vector<int64_t>> by_class(d.classes);
  for (int64_t i : order)
    if (static_cast<int64_t>(by_class[d.labels[i]].size()) < per_class) by_class[d.labels[i]].push_back(i);
  std::vector<int64_t> out;
  for (int64_t c = 0; c < d.classes; ++c) {
    check(static_cast<int64_t>(by_class[c].size()) == per_class, d.name, " has only ", by_class[c].size(),
          " test images of class ", c, ": lower --per-class");
    out.insert(out.end(), by_class[c].begin(), by_class[c].end());
  }
  return out;
}

struct LayerResult {
  std::string name, output;
  int stage = 0;
  bool pooled = false;
  int64_t dim = 0;
  std::vector<double> rows;  // (n, dim)
  double knn = 0.0;
  FisherTerms fisher;
  std::vector<double> embedding;  // (n, 2)
  std::string png;
};

// Loss and accuracy on the validation set of a model rebuilt from the
// checkpoint with stage_bits, batch norm re-estimated on bn_batches (with
// --keep-scale, the checkpoint's stage weights are already quantized and
// stage_bits stays the baseline's).
EvalResult measure(const SafeTensors& st, const Model& reference, const std::vector<int>& stage_bits,
                   const std::vector<Tensor>& bn_batches, const Dataset& val, const Transform& transform, int batch) {
  BuildOptions options = reference.options();
  options.stage_bits = stage_bits;
  Model model(with_batchnorm_momentum_one(reference.spec()), options);
  model.load(st, kOptimizerPrefix);
  if (!bn_batches.empty()) reestimate_batchnorm(model, bn_batches);
  return evaluate(model, val, transform, batch);
}

nlohmann::ordered_json run_sensitivity(const SafeTensors& st, const std::string& path, Model& model,
                                       const Transform& transform, int bn_batch_count, int64_t val_limit, int batch,
                                       bool keep_scale, bool quiet) {
  const ModelSpec& spec = model.spec();
  check(spec.num_stages > 0, spec.name, " has no quantizable stages: nothing to measure");
  const std::vector<int> base_bits = model.options().stage_bits;
  Dataset train, val;
  const std::string data = checkpoint_meta(st, "data");
  const uint64_t split_seed =
      static_cast<uint64_t>(parse_int(checkpoint_meta(st, "split_seed"), path + " split_seed", 0, INT64_MAX));
  load_run_split(data, parse_int(checkpoint_meta(st, "limit"), path + " limit", 0, INT64_MAX),
                 parse_double(checkpoint_meta(st, "val_split"), path + " val_split", 0.0, 0.9), split_seed, train,
                 val);
  check(val.n > 0, path, ": the run had no validation split, so --sensitivity has nothing to measure on");
  if (val_limit > 0 && val_limit < val.n) {
    std::vector<int64_t> first(val_limit);
    for (int64_t i = 0; i < val_limit; ++i) first[i] = i;
    val = subset(val, first);
  }
  // The same training batches for every setting (a seeded shuffle, no augmentation).
  std::vector<Tensor> bn_batches;
  {
    LoaderOptions lo;
    lo.batch_size = kBnBatchSize;
    lo.shuffle = true;
    lo.seed = split_seed;
    lo.transform = transform;
    BatchLoader loader(train, lo);
    loader.start_epoch(0);
    Tensor x;
    std::vector<int64_t> labels;
    while (static_cast<int>(bn_batches.size()) < bn_batch_count && loader.next(x, labels))
      if (static_cast<int64_t>(labels.size()) == kBnBatchSize) bn_batches.push_back(x.clone());
  }
  const EvalResult base = measure(st, model, base_bits, bn_batches, val, transform, batch);
  if (!quiet)
    std::printf("\nsensitivity on %lld validation images; batch norm re-estimated on %zu x %lld training images\n"
                "baseline (wbits %s): loss %.4f, accuracy %.2f%%\n",
                static_cast<long long>(val.n), bn_batches.size(), static_cast<long long>(kBnBatchSize),
                bits_to_string(base_bits).c_str(), base.loss, 100.0 * base.acc);

  nlohmann::ordered_json j;
  j["format"] = kSensitivityFormat;
  j["checkpoint"] = path;
  j["model"] = spec.name;
  j["stage_bits"] = bits_to_string(base_bits);
  j["abits"] = model.options().abits;
  j["data"] = data;
  j["split"] = "val";
  j["images"] = val.n;
  j["bn_reestimation"] = {{"batches", bn_batches.size()}, {"batch_size", kBnBatchSize}};
  j["weight_scale"] = keep_scale ? "kept: quantized, then each output channel rescaled by its least-squares factor"
                                 : "the quantizer's (DoReFa: each output channel on [-1, 1])";
  j["baseline"] = {{"loss", base.loss}, {"accuracy", base.acc}};
  j["widths"] = kAllocationWidths;
  j["stages"] = nlohmann::ordered_json::array();
  if (!quiet) {
    std::printf("%-6s %-22s %10s", "stage", "layers", "params");
    for (int b : kAllocationWidths) std::printf("   %d bits: dloss / acc", b);
    std::printf("\n");
  }
  for (int s = 1; s <= spec.num_stages; ++s) {
    nlohmann::ordered_json row;
    std::vector<std::string> layers;
    int64_t params = 0;
    for (const LayerSpec& L : spec.layers)
      if (L.quantizable() && L.stage == s) layers.push_back(L.name), params += weight_params(L);
    row["stage"] = s;
    row["layers"] = layers;
    row["params"] = params;
    row["results"] = nlohmann::ordered_json::array();
    std::string names = layers.size() == 1 ? layers[0] : layers[0] + " .. (" + std::to_string(layers.size()) + ")";
    if (!quiet) std::printf("%-6d %-22s %10lld", s, names.c_str(), static_cast<long long>(params));
    for (int b : kAllocationWidths) {
      std::vector<int> bits = base_bits;
      EvalResult r;
      if (keep_scale) {
        r = measure(keep_scale_weights(st, spec, s, b), model, bits, bn_batches, val, transform, batch);
      } else {
        bits[s - 1] = b;
        r = measure(st, model, bits, bn_batches, val, transform, batch);
      }
      row["results"].push_back(
          {{"bits", b}, {"loss", r.loss}, {"accuracy", r.acc}, {"loss_increase", r.loss - base.loss}});
      if (!quiet) {
        std::printf("   %+8.4f / %6.2f%%", r.loss - base.loss, 100.0 * r.acc);
        std::fflush(stdout);
      }
    }
    if (!quiet) std::printf("\n");
    j["stages"].push_back(row);
  }
  return j;
}

}  // namespace

int cmd_analyze(int argc, char** argv) {
  Args args(argc, argv, {"--json", "--sensitivity", "--keep-scale"});
  if (args.help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positional(1, "the checkpoint file");
  const bool as_json = args.flag("--json");
  const bool sensitivity = args.flag("--sensitivity");
  const bool keep_scale = args.flag("--keep-scale");
  auto data_flag = args.get("--data");
  auto out_flag = args.get("--out");
  const int64_t per_class = args.get_int("--per-class", 50, 2, 100000);
  const uint64_t seed = static_cast<uint64_t>(args.get_int("--seed", 0, 0, INT64_MAX));
  TsneOptions tsne_options;
  tsne_options.perplexity = args.get_double("--perplexity", 30.0, 1.0, 1000.0);
  tsne_options.iterations = static_cast<int>(args.get_int("--iterations", 1000, 1, 1000000));
  tsne_options.seed = seed;
  const int batch = static_cast<int>(args.get_int("--batch", 100, 1, 65536));
  const int bn_batches = static_cast<int>(args.get_int("--bn-batches", 20, 0, 100000));
  const int64_t val_limit = args.get_int("--val-limit", 0, 0, INT64_MAX);
  set_num_threads(static_cast<int>(args.get_int("--threads", num_threads(), 1, 256)));
  args.finish();
  if (!sensitivity && (args.has("--bn-batches") || args.has("--val-limit") || keep_scale))
    fail("--bn-batches, --val-limit and --keep-scale apply to --sensitivity only");

  const std::string path = args.positional()[0];
  SafeTensors st = load_safetensors(path);
  std::unique_ptr<Model> model = model_from_checkpoint(st);
  const ModelSpec& spec = model->spec();
  if (keep_scale)
    for (int b : model->options().stage_bits)
      check(b == 32, path, " has weights at ", bits_to_string(model->options().stage_bits),
            " bits; --keep-scale measures full-precision checkpoints only (wbits 32)");
  const std::string data = data_flag ? *data_flag : checkpoint_meta(st, "data");
  const std::string out =
      out_flag ? *out_flag : (std::filesystem::path(path).parent_path() / "analysis").string();
  std::filesystem::create_directories(out.empty() ? "." : out);

  Dataset test = load_dataset(data, "test");
  check(Shape{test.channels, test.height, test.width} == spec.input, "data set ", data, " has images ",
        shape_str({test.channels, test.height, test.width}), " but model ", spec.name, " takes ",
        shape_str(spec.input));
  check(test.classes <= spec.classes, "data set ", data, " has ", test.classes, " classes but the model outputs ",
        spec.classes);
  const Transform transform = checkpoint_transform(st);
  const std::vector<int64_t> sample = sample_per_class(test, per_class, seed);
  const int n = static_cast<int>(sample.size());
  check(n > tsne_options.perplexity + 1, n, " images are too few for t-SNE perplexity ", tsne_options.perplexity,
        ": raise --per-class or lower --perplexity");

  // The layers: the input pixels, then every quantizable layer's activation output.
  std::vector<FeatureLayer> feats = feature_layers(spec);
  std::vector<LayerResult> results(feats.size() + 1);
  results[0].name = results[0].output = "input";
  results[0].dim = spec.input[0] * spec.input[1] * spec.input[2];
  std::vector<int> outputs;
  for (size_t k = 0; k < feats.size(); ++k) {
    LayerResult& r = results[k + 1];
    r.name = feats[k].name, r.output = feats[k].output_name, r.stage = feats[k].stage;
    r.pooled = feats[k].pooled, r.dim = feats[k].dim;
    outputs.push_back(feats[k].output);
  }

  // One no-grad pass over the sample in batches, keeping the pooled features.
  model->set_training(false);
  std::vector<int64_t> labels;
  for (int start = 0; start < n; start += batch) {
    std::vector<int64_t> idx(sample.begin() + start, sample.begin() + std::min(n, start + batch));
    Var x;
    std::vector<int64_t> y;
    fill_batch(test, idx, transform, 0, 0, 1, x.data, y);
    labels.insert(labels.end(), y.begin(), y.end());
    append_feature_rows(x.data, /*flatten=*/true, results[0].rows);
    std::vector<Tensor> f = model->forward_features(x, outputs);
    for (size_t k = 0; k < f.size(); ++k) append_feature_rows(f[k], false, results[k + 1].rows);
  }

  const std::vector<std::string> names = class_names(data, test.classes);
  std::vector<ScatterPanel> panels;
  for (LayerResult& r : results) {
    const int d = static_cast<int>(r.dim);
    r.knn = knn_accuracy(r.rows, labels, n, d, kKnn);
    r.fisher = fisher_ratio(r.rows, labels, n, d);
    r.embedding = tsne(r.rows, n, d, tsne_options);
    ScatterPanel p;
    p.title = r.name == "input" ? "input pixels" : r.output + " (stage " + std::to_string(r.stage) + ")";
    char sub[96];
    std::snprintf(sub, sizeof sub, "kNN %.1f%%  Fisher %.3g", 100.0 * r.knn, r.fisher.ratio);
    p.subtitle = sub;
    p.xy = r.embedding;
    p.labels = labels;
    r.png = "tsne_" + r.output + ".png";
    write_scatter_png(out + "/" + r.png, {p}, 1, names);
    panels.push_back(p);
  }
  write_scatter_png(out + "/tsne_all.png", panels, 4, names);

  nlohmann::ordered_json j;
  j["format"] = "taper-analysis-1";
  j["checkpoint"] = path;
  j["model"] = spec.name;
  j["wbits"] = checkpoint_meta(st, "wbits");
  j["stage_bits"] = bits_to_string(model->options().stage_bits);
  j["abits"] = model->options().abits;
  j["data"] = data;
  j["split"] = "test";
  j["per_class"] = per_class;
  j["images"] = n;
  j["seed"] = seed;
  j["features"] = "each quantizable layer's activation output; conv outputs globally average-pooled per "
                  "channel, linear outputs as they are, input pixels flattened (normalized as in training)";
  j["knn_k"] = kKnn;
  j["tsne"] = {{"perplexity", tsne_options.perplexity}, {"iterations", tsne_options.iterations}, {"seed", seed}};
  j["layers"] = nlohmann::ordered_json::array();
  for (const LayerResult& r : results) {
    nlohmann::ordered_json l;
    l["name"] = r.name;
    l["output"] = r.output;
    l["stage"] = r.stage ? nlohmann::ordered_json(r.stage) : nlohmann::ordered_json(nullptr);
    l["pooled"] = r.pooled;
    l["dim"] = r.dim;
    l["knn_accuracy"] = r.knn;
    l["fisher_ratio"] = finite_or_null(r.fisher.ratio);
    l["between_scatter"] = r.fisher.between;
    l["within_scatter"] = r.fisher.within;
    l["tsne_png"] = r.png;
    j["layers"].push_back(l);
  }

  if (!as_json) {
    std::printf("%s (%s, wbits %s, abits %d) on %s: %d test images (%lld per class)\n", spec.name.c_str(),
                path.c_str(), bits_to_string(model->options().stage_bits).c_str(), model->options().abits,
                data.c_str(), n, static_cast<long long>(per_class));
    std::printf("features after each quantizable layer's activation; conv outputs globally average-pooled\n\n");
    std::printf("%-16s %-16s %5s %7s %9s %10s\n", "layer", "output", "stage", "dim", "kNN acc", "Fisher");
    for (const LayerResult& r : results)
      std::printf("%-16s %-16s %5s %7lld %8.1f%% %10.4f%s\n", r.name.c_str(), r.output.c_str(),
                  r.stage ? std::to_string(r.stage).c_str() : "-", static_cast<long long>(r.dim), 100.0 * r.knn,
                  r.fisher.ratio, r.name == "input" ? "   (pixels, not pooled)" : "");
  }
  if (sensitivity) {
    nlohmann::ordered_json s = run_sensitivity(st, path, *model, transform, bn_batches, val_limit, batch, keep_scale, as_json);
    write_file_atomic(out + "/sensitivity.json", s.dump(2) + "\n");
    j["sensitivity"] = s;
  }
  write_file_atomic(out + "/analysis.json", j.dump(2) + "\n");
  if (as_json)
    std::printf("%s\n", j.dump().c_str());
  else
    std::printf("\nwrote %s/analysis.json, tsne_all.png and one tsne_<layer>.png per layer%s\n", out.c_str(),
                sensitivity ? ", sensitivity.json" : "");
  return 0;
}

}  // namespace taper::app
