// RunConfig — everything `taper train` needs to know, from a run JSON file
// (--run RUN.json) and/or flags (flags win). The resolved config is written
// into the run folder and into every checkpoint, so a run can be resumed and
// a checkpoint evaluated without the original command line.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/args.h"

namespace taper::app {

struct RunConfig {
  std::string model;           // model file or shipped model name
  std::string data;            // data set spec (data/registry.h)
  std::string wbits = "32";
  int abits = 32;
  double width = 1.0;
  std::string match_size;      // a wbits spec: train at the widest width whose weight bytes do not
                               // exceed that spec's at width 1 (sets width); empty: use width
  std::string optimizer = "sgd";  // sgd | adam | adamw
  double lr = 0.1;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 2e-4;
  std::string schedule = "multistep";  // multistep | cosine | constant
  std::vector<int> milestones;         // empty: 40%, 60%, 80% of epochs (the paper's 80/120/160 of 200)
  double gamma = 0.1;
  int warmup = 0;
  int epochs = 200;
  int batch = 128;
  uint64_t seed = 0;
  int threads = 0;             // 0: all cores
  double val_split = 0.1;
  std::string normalize = "dataset";  // dataset | none
  std::string augment;         // none | flip | crop | crop+flip; empty: by data set
  int64_t limit = 0;           // first N training images; 0: all
  std::string out;             // run folder; empty: runs/<model>-w<wbits>-a<abits>

  nlohmann::ordered_json to_json() const;
};

// Reads the run file (if --run is given), then the flags, checks every value
// and fills the defaults that depend on others (milestones, augment, out).
// With match_size it loads the model and sets width to the matched width (a
// width given as well must equal it); a config read back from a checkpoint
// keeps the width it recorded.
RunConfig read_run_config(Args& args);
// Parses a config written by to_json (from a checkpoint); strict.
RunConfig run_config_from_json(const nlohmann::json& j, const std::string& source);
// Fills defaults that depend on other fields and validates ranges.
void finalize(RunConfig& c);

}  // namespace taper::app
