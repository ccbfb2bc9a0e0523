// taper eval CHECKPOINT|PACKED [--data NAME] [--split test|val] [--batch B] [--threads T] [--json]
//   [--logits FILE]
// Rebuilds the network from the checkpoint alone and measures it on a data
// set; a packed model file (taper export) runs on the integer engine.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/args.h"
#include "apps/run_data.h"
#include "data/registry.h"
#include "engine/comm.h"
#include "engine/error.h"
#include "engine/parallel.h"
#include "models/checkpoint.h"
#include "models/export.h"
#include "models/packed_model.h"

namespace taper::app {

static const char* kUsage =
    "usage: taper eval CHECKPOINT.safetensors|PACKED_FILE [--data NAME] [--split test|val] [--batch B]\n"
    "                  [--threads T] [--json] [--logits FILE]\n"
    "  Rebuilds the network from the checkpoint (model, bits, width, weights) and reports\n"
    "  accuracy and mean cross-entropy. --data defaults to the data set it was trained on;\n"
    "  the normalization is the one it was trained with. --split val re-creates the run's\n"
    "  validation split (same data set, seed, fraction and --limit). --json prints\n"
    "  {\"accuracy\", \"loss\", \"count\", \"engine\"}.\n"
    "  A packed model file (taper export; recognized by its metadata) runs on the\n"
    "  integer engine (models/packed_model.h), with the normalization stored in it\n"
    "  (--split val needs the checkpoint). --logits FILE writes \"logits\" (N, classes)\n"
    "  float32 and \"labels\" (N) int64 of every image, in data set order.\n";

int cmd_eval(int argc, char** argv) {
  Args args(argc, argv, {"--json"});
  if (args.help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positional(1, "the checkpoint file");
  const bool as_json = args.flag("--json");
  const std::string split = args.get_or("--split", "test");
  auto logits_path = args.get("--logits");
  auto data_flag = args.get("--data");
  const int batch = static_cast<int>(args.get_int("--batch", 256, 1, 65536));
  set_num_threads(static_cast<int>(args.get_int("--threads", num_threads(), 1, 256)));
  args.finish();
  if (split != "test" && split != "val") fail("--split '", split, "': expected test or val");

  const std::string path = args.positional()[0];
  SafeTensors st = load_safetensors(path);
  const bool packed = is_packed_file(st);
  std::unique_ptr<Model> model;
  std::unique_ptr<PackedModel> pmodel;
  if (packed)
    pmodel = std::make_unique<PackedModel>(st);
  else
    model = model_from_checkpoint(st);
  const ModelSpec& spec = packed ? pmodel->spec() : model->spec();
  auto meta = [&](const std::string& key) -> const std::string& {
    if (!packed) return checkpoint_meta(st, key);
    auto it = st.metadata.find(key);
    check(it != st.metadata.end(), path, ": packed model metadata has no \"", key, "\" (give --data)");
    return it->second;
  };
  const std::string data = data_flag ? *data_flag : meta("data");

  Dataset d;
  if (split == "test") {
    d = load_dataset(data, "test");
  } else {
    check(!packed, path, ": --split val needs the run's checkpoint (a packed file does not record the split)");
    check(!data_flag || *data_flag == checkpoint_meta(st, "data"), "--split val needs the run's own data set (",
          checkpoint_meta(st, "data"), ")");
    Dataset train;
    load_run_split(data, parse_int(checkpoint_meta(st, "limit"), path + " limit", 0, INT64_MAX),
                   parse_double(checkpoint_meta(st, "val_split"), path + " val_split", 0.0, 0.9),
                   static_cast<uint64_t>(parse_int(checkpoint_meta(st, "split_seed"), path + " split_seed", 0,
                                                   INT64_MAX)),
                   train, d);
    check(d.n > 0, path, ": the run had no validation split");
  }
  check(Shape{d.channels, d.height, d.width} == spec.input, "data set ", data, " has images ",
        shape_str({d.channels, d.height, d.width}), " but model ", spec.name, " takes ", shape_str(spec.input));
  check(d.classes <= spec.classes, "data set ", data, " has ", d.classes, " classes but the model outputs ",
        spec.classes);

  Transform transform;
  if (packed) {
    transform.mean = pmodel->normalize_mean();
    transform.std = pmodel->normalize_std();
  } else {
    transform = checkpoint_transform(st);
  }
  std::vector<float> all_logits;
  std::vector<int64_t> all_labels;
  LogitsFn keep = nullptr;
  if (logits_path)
    keep = [&](const Tensor& logits, const std::vector<int64_t>& labels) {
      all_logits.insert(all_logits.end(), logits.data(), logits.data() + logits.numel());
      all_labels.insert(all_labels.end(), labels.begin(), labels.end());
    };
  const EvalResult r =
      packed ? evaluate([&](Var& x) -> const Tensor& { return pmodel->forward(x.data); }, d, transform, batch, keep)
             : evaluate(*model, d, transform, batch, keep);
  const double acc = r.acc, loss = r.loss;
  const int64_t count = r.count;
  if (logits_path) {
    check(comm_size() == 1, "--logits needs one process (not mpirun)");
    SafeTensors out;
    const int64_t n = static_cast<int64_t>(all_labels.size());
    out.put("logits", Tensor::from({n, spec.classes}, all_logits));
    out.put_i64("labels", {n}, all_labels);
    save_safetensors(*logits_path, out);
  }
  if (as_json) {
    nlohmann::ordered_json j;
    j["accuracy"] = acc;
    j["loss"] = loss;
    j["count"] = count;
    j["engine"] = packed ? "integer" : "float";
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s on %s (%s, %lld images, %s engine): accuracy %.2f%%, loss %.4f\n", spec.name.c_str(),
                data.c_str(), split.c_str(), static_cast<long long>(count), packed ? "integer" : "float", 100.0 * acc,
                loss);
  }
  return 0;
}

}  // namespace taper::app
