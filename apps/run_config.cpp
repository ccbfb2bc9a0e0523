#include "apps/run_config.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "analysis/sensitivity.h"
#include "apps/model_choice.h"
#include "engine/comm.h"
#include "engine/error.h"
#include "quant/policy.h"

namespace taper::app {

using json = nlohmann::json;

nlohmann::ordered_json RunConfig::to_json() const {
  nlohmann::ordered_json j;
  j["model"] = model;
  j["data"] = data;
  j["wbits"] = wbits;
  j["abits"] = abits;
  j["width"] = width;
  j["match_size"] = match_size.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(match_size);
  j["optimizer"] = optimizer;
  j["lr"] = lr;
  j["momentum"] = momentum;
  j["nesterov"] = nesterov;
  j["weight_decay"] = weight_decay;
  j["schedule"] = schedule;
  j["milestones"] = milestones;
  j["gamma"] = gamma;
  j["warmup"] = warmup;
  j["epochs"] = epochs;
  j["batch"] = batch;
  j["seed"] = seed;
  j["threads"] = threads;
  j["val_split"] = val_split;
  j["normalize"] = normalize;
  j["augment"] = augment;
  j["limit"] = limit;
  j["out"] = out;
  return j;
}

// Text of a JSON value as a flag would give it, so one parser checks both.
static std::string as_text(const json& v, const std::string& key, const std::string& source) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) {
    std::ostringstream os;
    os.precision(17);
    os << v.get<double>();
    return os.str();
  }
  fail(source, ": \"", key, "\" must be a number or a string, got ", v.dump());
}

static std::vector<int> parse_milestones(const std::string& text, const std::string& what) {
  std::vector<int> out;
  if (text.empty()) return out;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    out.push_back(static_cast<int>(parse_int(text.substr(start, comma - start), what, 1, 1000000)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Applies one setting, from a flag or a JSON key, to the config.
static void apply(RunConfig& c, const std::string& key, const std::string& v, const std::string& what) {
  if (key == "model") c.model = v;
  else if (key == "data") c.data = v;
  else if (key == "wbits") c.wbits = v;
  else if (key == "abits") c.abits = static_cast<int>(parse_int(v, what, 1, 32));
  else if (key == "width") c.width = parse_double(v, what, 1e-3, 64.0);
  else if (key == "match_size") c.match_size = v;
  else if (key == "optimizer") c.optimizer = v;
  else if (key == "lr") c.lr = parse_double(v, what, 0.0, 1e3);
  else if (key == "momentum") c.momentum = parse_double(v, what, 0.0, 1.0);
  else if (key == "weight_decay") c.weight_decay = parse_double(v, what, 0.0, 1.0);
  else if (key == "schedule") c.schedule = v;
  else if (key == "milestones") c.milestones = parse_milestones(v, what);
  else if (key == "gamma") c.gamma = parse_double(v, what, 0.0, 1.0);
  else if (key == "warmup") c.warmup = static_cast<int>(parse_int(v, what, 0, 100000));
  else if (key == "epochs") c.epochs = static_cast<int>(parse_int(v, what, 1, 100000));
  else if (key == "batch") c.batch = static_cast<int>(parse_int(v, what, 2, 65536));  // batch norm needs 2
  else if (key == "seed") c.seed = static_cast<uint64_t>(parse_int(v, what, 0, INT64_MAX));
  else if (key == "threads") c.threads = static_cast<int>(parse_int(v, what, 0, 256));
  else if (key == "val_split") c.val_split = parse_double(v, what, 0.0, 0.9);
  else if (key == "normalize") c.normalize = v;
  else if (key == "augment") c.augment = v;
  else if (key == "limit") c.limit = parse_int(v, what, 0, INT64_MAX);
  else if (key == "out") c.out = v;
  else fail(what, ": unknown setting");
}

static const std::vector<std::string> kKeys = {
    "model", "data",     "wbits",  "abits",   "width", "match_size", "optimizer", "lr",        "momentum",
    "weight_decay", "schedule", "milestones", "gamma", "warmup", "epochs", "batch", "seed",
    "threads", "val_split", "normalize", "augment", "limit", "out"};

static void apply_json(RunConfig& c, const json& j, const std::string& source) {
  if (!j.is_object()) fail(source, ": a run config must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const std::string what = source + ": \"" + key + "\"";
    if (key == "match_size" && it.value().is_null()) {
      c.match_size.clear();  // as to_json writes "no match"
    } else if (key == "nesterov") {
      if (!it.value().is_boolean()) fail(what, " must be true or false");
      c.nesterov = it.value().get<bool>();
    } else if (key == "milestones") {
      if (!it.value().is_array()) fail(what, " must be a list of epochs");
      c.milestones.clear();
      for (const auto& m : it.value()) {
        // The same range as --milestones (parse_milestones); a larger value
        // would not fit the int it is stored in.
        if (!m.is_number_integer() || m.get<int64_t>() < 1 || m.get<int64_t>() > 1000000)
          fail(what, " must hold epochs 1..1000000, got ", m.dump());
        c.milestones.push_back(static_cast<int>(m.get<int64_t>()));
      }
    } else if (std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end()) {
      apply(c, key, as_text(it.value(), key, source), what);
    } else {
      fail(source, ": unknown key \"", key, "\"");
    }
  }
}

RunConfig run_config_from_json(const json& j, const std::string& source) {
  RunConfig c;
  apply_json(c, j, source);
  finalize(c);
  return c;
}

RunConfig read_run_config(Args& args) {
  RunConfig c;
  bool width_given = false;
  if (auto run = args.get("--run")) {
    std::ifstream f(*run);
    if (!f) fail(*run, ": cannot open run config");
    json j;
    try {
      j = json::parse(f);
    } catch (const json::parse_error& e) {
      fail(*run, ": not valid JSON: ", e.what());
    }
    apply_json(c, j, *run);
    width_given = j.is_object() && j.contains("width");
  }
  for (const auto& key : kKeys) {
    std::string flag = "--" + key;
    for (auto& ch : flag)
      if (ch == '_') ch = '-';
    if (auto v = args.get(flag)) {
      apply(c, key, *v, flag);
      if (key == "width") width_given = true;
    }
  }
  if (args.flag("--nesterov")) c.nesterov = true;
  if (!c.match_size.empty()) {
    if (c.model.empty()) fail("no model: give --model FILE (or \"model\" in the run config)");
    const double given = c.width;
    try {
      c.width = matched_width(resolve_model_path(c.model), c.wbits, c.match_size);
    } catch (const Error& e) {
      fail("match_size ", c.match_size, " (model ", c.model, ", wbits ", c.wbits, "): ", e.what());
    }
    if (width_given && std::fabs(given - c.width) > 1e-9)
      fail("width ", given, " and match_size ", c.match_size, " (width ", c.width,
           ") disagree: give one of them");
  }
  finalize(c);
  return c;
}

void finalize(RunConfig& c) {
  if (c.model.empty()) fail("no model: give --model FILE (or \"model\" in the run config)");
  if (c.abits != 32 && (c.abits < 1 || c.abits > 8)) fail("abits ", c.abits, ": expected 1-8 or 32");
  if (c.optimizer != "sgd" && c.optimizer != "adam" && c.optimizer != "adamw")
    fail("optimizer '", c.optimizer, "': expected sgd, adam or adamw");
  if (c.schedule != "multistep" && c.schedule != "cosine" && c.schedule != "constant")
    fail("schedule '", c.schedule, "': expected multistep, cosine or constant");
  if (c.normalize != "dataset" && c.normalize != "none")
    fail("normalize '", c.normalize, "': expected dataset or none");
  if (c.nesterov && c.optimizer != "sgd") fail("--nesterov applies to sgd only");
  if (c.warmup >= c.epochs) fail("warmup ", c.warmup, " must be shorter than the ", c.epochs, " epochs");
  if (c.milestones.empty() && c.schedule == "multistep") {
    // The paper's 80, 120, 160 of 200 epochs, scaled: 40%, 60%, 80%.
    for (double f : {0.4, 0.6, 0.8}) {
      int m = static_cast<int>(std::lround(f * c.epochs));
      if (m >= 1 && m < c.epochs && (c.milestones.empty() || m > c.milestones.back())) c.milestones.push_back(m);
    }
  }
  for (size_t i = 1; i < c.milestones.size(); ++i)
    if (c.milestones[i] <= c.milestones[i - 1]) fail("milestones must increase");
  if (is_auto_wbits(c.wbits)) {  // analysis/sensitivity.h: pick the bits once; the run records them
    ModelSpec spec = load_model_file(resolve_model_path(c.model));
    const AutoPolicy a = resolve_auto_wbits(c.wbits, c.width == 1.0 ? spec : apply_width(spec, c.width));
    std::printf("%s\n", describe(a).c_str());
    c.wbits = bits_to_string(a.allocation.bits);
  }
  // All cores, shared by the ranks that run on this machine under mpirun.
  if (c.threads == 0)
    c.threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / comm_local_size());
  if (c.out.empty()) {
    std::string name = c.model;
    auto slash = name.find_last_of('/');
    if (slash != std::string::npos) name = name.substr(slash + 1);
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0) name.resize(name.size() - 5);
    std::string w = c.wbits;
    for (auto& ch : w)
      if (ch == ':') ch = '_';
    c.out = "runs/" + name + "-w" + w + "-a" + std::to_string(c.abits);
  }
}

}  // namespace taper::app
