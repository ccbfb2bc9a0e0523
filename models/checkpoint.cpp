#include "models/checkpoint.h"

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "quant/policy.h"

namespace taper {

void build_checkpoint(SafeTensors& st, const Model& model, const std::string& wbits, double width,
                      const Optimizer* optimizer, const std::map<std::string, std::string>& extra) {
  model.save(st);
  if (optimizer) optimizer->save_state(st, kOptimizerPrefix);
  st.metadata["format"] = kCheckpointFormat;
  st.metadata["model_json"] = model.spec().json_text;
  st.metadata["model_source"] = model.spec().source;
  st.metadata["wbits"] = wbits;
  st.metadata["stage_bits"] = bits_to_string(model.options().stage_bits);
  st.metadata["abits"] = std::to_string(model.options().abits);
  char w[64];
  std::snprintf(w, sizeof w, "%.17g", width);
  st.metadata["width"] = w;
  st.metadata["dropout_rng"] = nlohmann::json(model.rng_states()).dump();
  for (const auto& [k, v] : extra) st.metadata[k] = v;
}

const std::string& checkpoint_meta(const SafeTensors& st, const std::string& key) {
  auto it = st.metadata.find(key);
  check(it != st.metadata.end(), st.source, ": checkpoint metadata has no \"", key,
        "\" (not a complete taper checkpoint)");
  return it->second;
}

std::unique_ptr<Model> model_from_checkpoint(const SafeTensors& st) {
  auto format = st.metadata.find("format");
  check(format != st.metadata.end() && format->second == kCheckpointFormat, st.source,
        ": not a taper checkpoint (metadata \"format\" is not \"", kCheckpointFormat, "\")");
  const std::string where = st.source + " (checkpoint)";
  ModelSpec spec = parse_model_json(checkpoint_meta(st, "model_json"), where);
  double width = 0.0;
  try {
    width = std::stod(checkpoint_meta(st, "width"));
  } catch (const std::logic_error&) {
    fail(st.source, ": checkpoint metadata \"width\" is not a number");
  }
  if (width != 1.0) spec = apply_width(spec, width);
  BuildOptions options;
  options.stage_bits = parse_wbits(checkpoint_meta(st, "wbits"), spec.num_stages);
  check(bits_to_string(options.stage_bits) == checkpoint_meta(st, "stage_bits"), st.source,
        ": checkpoint metadata \"stage_bits\" does not match \"wbits\"");
  options.abits = parse_abits(checkpoint_meta(st, "abits"));
  auto model = std::make_unique<Model>(spec, options);
  model->load(st, kOptimizerPrefix);
  nlohmann::json rng;
  try {
    rng = nlohmann::json::parse(checkpoint_meta(st, "dropout_rng"));
  } catch (const nlohmann::json::exception&) {
    fail(st.source, ": checkpoint metadata \"dropout_rng\" is not a JSON list");
  }
  check(rng.is_array(), st.source, ": checkpoint metadata \"dropout_rng\" is not a JSON list");
  std::vector<std::string> states;
  for (const auto& s : rng) {
    check(s.is_string(), st.source, ": checkpoint metadata \"dropout_rng\" must hold strings");
    states.push_back(s.get<std::string>());
  }
  model->set_rng_states(states);
  return model;
}

}  // namespace taper
