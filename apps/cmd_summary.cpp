// taper summary MODEL.json [--wbits SPEC] [--abits K] [--width W | --match-size SPEC] [--json]
// Prints every layer with its parameters, bits and bytes, and the model's sizes.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/model_choice.h"
#include "quant/policy.h"
#include "models/size.h"

namespace taper::app {

static const char* kUsage =
    "usage: taper summary MODEL.json [--wbits SPEC] [--abits K] [--width W | --match-size SPEC] [--json]\n"
    "  MODEL.json       a model file, or a shipped model's name (vgg7-fmnist, resnet20, ...)\n"
    "  --wbits SPEC     32 | k | a-b-c... (one per stage) | progressive:K   (default 32)\n"
    "  --abits K        activation bits, 1-8 or 32 (default 32)\n"
    "  --width W        multiply every hidden layer's channels by W\n"
    "  --match-size S   the largest width at which this policy's weight bytes do\n"
    "                   not exceed those of policy S at width 1\n"
    "  --json           one JSON object instead of the table\n";

static std::string grouped(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

nlohmann::ordered_json size_json(const ModelSpec& spec, const std::string& wbits,
                                 const std::vector<int>& stage_bits, int abits, double width) {
  SizeReport r = size_report(spec, stage_bits, abits);
  nlohmann::ordered_json j;
  j["model"] = spec.name;
  j["wbits"] = wbits;
  j["stage_bits"] = stage_bits;
  j["abits"] = abits;
  j["width"] = width;
  j["layers"] = nlohmann::ordered_json::array();
  for (const auto& row : r.layers) {
    nlohmann::ordered_json l;
    l["name"] = row.name;
    l["type"] = row.type;
    l["stage"] = row.stage ? nlohmann::ordered_json(row.stage) : nlohmann::ordered_json(nullptr);
    l["params"] = row.params;
    l["bias_params"] = row.bias_params;
    l["wbits"] = row.wbits;
    l["bytes"] = row.bytes;
    j["layers"].push_back(l);
  }
  j["quantized_params"] = r.quantized_params;
  j["avg_weight_bits"] = r.avg_weight_bits;
  j["quantized_weight_bytes"] = r.quantized_weight_bytes;
  j["weight_bytes"] = r.weight_bytes;
  j["total_bytes"] = r.total_bytes;
  j["fp32_bytes"] = r.fp32_bytes;
  j["size_kind"] = "packed";  // total_bytes = the tensor bytes of `taper export`'s file
  return j;
}

int cmd_summary(int argc, char** argv) {
  Args args(argc, argv, {"--json"});
  if (args.help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positional(1, "the model file");
  bool as_json = args.flag("--json");
  ModelChoice c = read_model_choice(args, args.positional()[0]);
  args.finish();
  SizeReport r = size_report(c.spec, c.stage_bits, c.abits);

  if (as_json) {
    nlohmann::ordered_json j = size_json(c.spec, c.wbits, c.stage_bits, c.abits, c.width);
    if (c.match) {
      j["match_size"] = {{"wbits", c.match->spec},
                         {"weight_bytes", c.match->target_weight_bytes},
                         {"width", c.width},
                         {"matched_weight_bytes", r.weight_bytes}};
    }
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }

  std::printf("model %s (%s)\n", c.spec.name.c_str(), c.spec.source.c_str());
  std::printf("weights %s (per stage %s), activations %d bits, width %g\n\n", c.wbits.c_str(),
              c.stage_bits.empty() ? "-" : bits_to_string(c.stage_bits).c_str(), c.abits, c.width);
  std::printf("%-16s %-14s %5s %12s %5s %12s\n", "layer", "type", "stage", "params", "bits", "bytes");
  for (const auto& row : r.layers) {
    if (!row.params && !row.bytes) {
      std::printf("%-16s %-14s\n", row.name.c_str(), row.type.c_str());
      continue;
    }
    std::string stage = row.stage ? std::to_string(row.stage) : "-";
    std::printf("%-16s %-14s %5s %12s %5d %12s\n", row.name.c_str(), row.type.c_str(), stage.c_str(),
                grouped(row.params).c_str(), row.wbits, grouped(row.bytes).c_str());
  }
  std::printf("\nquantized params        %s\n", grouped(r.quantized_params).c_str());
  if (r.quantized_params)
    std::printf("average weight bits     %.4f\n", r.avg_weight_bits);
  std::printf("quantized weight bytes  %s\n", grouped(r.quantized_weight_bytes).c_str());
  std::printf("weight bytes            %s   (all conv/linear weights at their bits)\n",
              grouped(r.weight_bytes).c_str());
  std::printf("total bytes             %s   (the packed file's tensors: taper export)\n",
              grouped(r.total_bytes).c_str());
  std::printf("fp32 bytes              %s   (the same network in float32)\n", grouped(r.fp32_bytes).c_str());
  if (c.match)
    std::printf("\nmatched size: width %.3f gives %s weight bytes <= %s of --wbits %s at width 1\n", c.width,
                grouped(r.weight_bytes).c_str(), grouped(c.match->target_weight_bytes).c_str(),
                c.match->spec.c_str());
  return 0;
}

}  // namespace taper::app
