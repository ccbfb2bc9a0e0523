// taper export CHECKPOINT_OR_RUN_DIR --out FILE [--json]
// Writes the packed model file (docs/packed-format.md) of a checkpoint and
// prints its per-layer sizes and the file's size next to the checkpoint's.
#include <sys/stat.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/args.h"
#include "engine/error.h"
#include "models/checkpoint.h"
#include "models/export.h"
#include "models/size.h"
#include "quant/policy.h"

namespace taper::app {

static const char* kUsage =
    "usage: taper export CHECKPOINT.safetensors|RUN_DIR --out FILE [--json]\n"
    "  Writes the packed low-bit model file of a checkpoint (a run folder means its\n"
    "  best.safetensors): every quantized weight as its integer codes packed at its\n"
    "  bits, batch norm + activation quantizer folded into integer thresholds,\n"
    "  float32 only where the model is full precision (docs/packed-format.md).\n"
    "  taper eval, forward and the integer engine read it. Prints the per-layer\n"
    "  bytes and the file's size next to the float checkpoint's; --json prints\n"
    "  them as one JSON object.\n";

static int64_t file_size(const std::string& path) {
  struct stat s;
  check(stat(path.c_str(), &s) == 0, "cannot stat '", path, "'");
  return static_cast<int64_t>(s.st_size);
}

static std::vector<double> meta_list(const SafeTensors& st, const std::string& key) {
  auto it = st.metadata.find(key);
  if (it == st.metadata.end()) return {};
  try {
    return nlohmann::json::parse(it->second).get<std::vector<double>>();
  } catch (const nlohmann::json::exception&) {
    fail(st.source, ": checkpoint metadata \"", key, "\" is not a list of numbers");
  }
}

int cmd_export(int argc, char** argv) {
  Args args(argc, argv, {"--json"});
  if (args.help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positional(1, "the checkpoint file or run folder");
  const bool as_json = args.flag("--json");
  auto out = args.get("--out");
  args.finish();
  if (!out) fail("--out FILE is required (the packed model file to write)");
  std::string path = args.positional()[0];
  struct stat s;
  if (stat(path.c_str(), &s) == 0 && S_ISDIR(s.st_mode)) {
    path += "/best.safetensors";
    check(stat(path.c_str(), &s) == 0, args.positional()[0], " is a folder without best.safetensors (not a run folder)");
  }
  SafeTensors st = load_safetensors(path);
  std::unique_ptr<Model> model = model_from_checkpoint(st);
  std::map<std::string, std::string> extra = {{"source", path}};
  if (st.metadata.count("data")) extra["data"] = st.metadata.at("data");
  const double width = parse_double(checkpoint_meta(st, "width"), path + " width", 1e-3, 64.0);
  SafeTensors packed = export_packed(*model, checkpoint_meta(st, "wbits"), width, meta_list(st, "normalize_mean"),
                                     meta_list(st, "normalize_std"), extra);
  save_safetensors(*out, packed);

  const ModelSpec& spec = model->spec();
  const SizeReport r = size_report(spec, model->options().stage_bits, model->options().abits,
                                   model->options().binarize_per_tensor);
  int64_t tensor_bytes = 0;
  for (const auto& kv : packed.entries) tensor_bytes += int64_t(kv.second.bytes.size());
  check(tensor_bytes == r.total_bytes, "internal error: the packed tensors hold ", tensor_bytes,
        " bytes but the size report says ", r.total_bytes);
  const int64_t packed_file = file_size(*out), ckpt_file = file_size(path);
  if (as_json) {
    nlohmann::ordered_json j;
    j["model"] = spec.name;
    j["wbits"] = checkpoint_meta(st, "wbits");
    j["abits"] = model->options().abits;
    j["file"] = *out;
    j["file_bytes"] = packed_file;
    j["tensor_bytes"] = tensor_bytes;
    j["header_bytes"] = packed_file - tensor_bytes;
    j["total_bytes"] = r.total_bytes;
    j["fp32_bytes"] = r.fp32_bytes;
    j["checkpoint"] = path;
    j["checkpoint_bytes"] = ckpt_file;
    j["layers"] = nlohmann::ordered_json::array();
    for (const auto& row : r.layers)
      j["layers"].push_back({{"name", row.name}, {"type", row.type}, {"wbits", row.wbits}, {"bytes", row.bytes}});
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("packed %s (wbits %s, abits %d) -> %s\n\n", spec.name.c_str(), checkpoint_meta(st, "wbits").c_str(),
              model->options().abits, out->c_str());
  std::printf("%-16s %-14s %5s %12s\n", "layer", "type", "bits", "bytes");
  for (const auto& row : r.layers) {
    if (!row.bytes) continue;
    std::printf("%-16s %-14s %5s %12lld\n", row.name.c_str(), row.type.c_str(),
                row.params && row.type != "batchnorm" ? std::to_string(row.wbits).c_str() : "-",
                static_cast<long long>(row.bytes));
  }
  std::printf("\ntensors          %12lld bytes (= summary's total_bytes)\n", static_cast<long long>(tensor_bytes));
  std::printf("packed file      %12lld bytes (tensors + %lld bytes of header)\n", static_cast<long long>(packed_file),
              static_cast<long long>(packed_file - tensor_bytes));
  std::printf("float checkpoint %12lld bytes (%s; %.1fx the packed file)\n", static_cast<long long>(ckpt_file),
              path.c_str(), double(ckpt_file) / double(packed_file));
  std::printf("float32 model    %12lld bytes (fp32_bytes: weights, biases, batch norms)\n",
              static_cast<long long>(r.fp32_bytes));
  return 0;
}

}  // namespace taper::app
