// The flags every command that builds a network shares: the model file,
// --wbits, --abits, and --width or --match-size.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/args.h"
#include "models/model_spec.h"

namespace taper::app {

struct SizeMatch {
  std::string spec;            // the policy whose size is matched
  int64_t target_weight_bytes;  // its weight_bytes at width 1
};

struct ModelChoice {
  ModelSpec spec;               // with the width applied
  std::string wbits = "32";
  std::vector<int> stage_bits;  // one per stage
  int abits = 32;
  double width = 1.0;
  std::optional<SizeMatch> match;
};

// A model argument is a path to a JSON file, or the name of a shipped model
// ("resnet20" finds models/resnet20.json in the source tree).
std::string resolve_model_path(const std::string& arg);

// "At the size of": the widest width at which the model under `wbits` has at
// most the weight bytes it has under `match` at width 1 (models/size.h).
double matched_width(const std::string& model_path, const std::string& wbits, const std::string& match);

// Reads --wbits, --abits, --width and --match-size for the model file.
ModelChoice read_model_choice(Args& args, const std::string& model_arg);

// The size report as one JSON object (what `taper summary --json` prints).
nlohmann::ordered_json size_json(const ModelSpec& spec, const std::string& wbits,
                                 const std::vector<int>& stage_bits, int abits, double width);

}  // namespace taper::app
