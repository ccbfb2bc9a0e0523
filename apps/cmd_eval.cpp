// taper eval CHECKPOINT [--data NAME] [--split test|val] [--batch B] [--threads T] [--json]
// Rebuilds the network from the checkpoint alone and measures it on a data set.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/args.h"
#include "apps/run_data.h"
#include "data/registry.h"
#include "engine/error.h"
#include "engine/parallel.h"
#include "models/checkpoint.h"

namespace taper::app {

static const char* kUsage =
    "usage: taper eval CHECKPOINT.safetensors [--data NAME] [--split test|val] [--batch B]\n"
    "                  [--threads T] [--json]\n"
    "  Rebuilds the network from the checkpoint (model, bits, width, weights) and reports\n"
    "  accuracy and mean cross-entropy. --data defaults to the data set it was trained on;\n"
    "  the normalization is the one it was trained with. --split val re-creates the run's\n"
    "  validation split (same data set, seed, fraction and --limit). --json prints\n"
    "  {\"accuracy\", \"loss\", \"count\"}.\n";

int cmd_eval(int argc, char** argv) {
  Args args(argc, argv, {"--json"});
  if (args.help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positional(1, "the checkpoint file");
  const bool as_json = args.flag("--json");
  const std::string split = args.get_or("--split", "test");
  auto data_flag = args.get("--data");
  const int batch = static_cast<int>(args.get_int("--batch", 256, 1, 65536));
  set_num_threads(static_cast<int>(args.get_int("--threads", num_threads(), 1, 256)));
  args.finish();
  if (split != "test" && split != "val") fail("--split '", split, "': expected test or val");

  const std::string path = args.positional()[0];
  SafeTensors st = load_safetensors(path);
  std::unique_ptr<Model> model = model_from_checkpoint(st);
  const std::string data = data_flag ? *data_flag : checkpoint_meta(st, "data");

  Dataset d;
  if (split == "test") {
    d = load_dataset(data, "test");
  } else {
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
  const ModelSpec& spec = model->spec();
  check(Shape{d.channels, d.height, d.width} == spec.input, "data set ", data, " has images ",
        shape_str({d.channels, d.height, d.width}), " but model ", spec.name, " takes ", shape_str(spec.input));
  check(d.classes <= spec.classes, "data set ", data, " has ", d.classes, " classes but the model outputs ",
        spec.classes);

  const Transform transform = checkpoint_transform(st);
  const EvalResult r = evaluate(*model, d, transform, batch);
  const double acc = r.acc, loss = r.loss;
  const int64_t count = r.count;
  if (as_json) {
    nlohmann::ordered_json j;
    j["accuracy"] = acc;
    j["loss"] = loss;
    j["count"] = count;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s on %s (%s, %lld images): accuracy %.2f%%, loss %.4f\n", spec.name.c_str(), data.c_str(),
                split.c_str(), static_cast<long long>(count), 100.0 * acc, loss);
  }
  return 0;
}

}  // namespace taper::app
