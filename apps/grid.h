// A sweep grid: a JSON file that lists models, data sets, bit policies,
// widths (or match_size), seeds and one training recipe; every combination
// is one cell, an ordinary `taper train` run folder. The format is in
// docs/sweep.md; the reader is strict like the model JSON (unknown keys,
// wrong types, empty axes and an impossible match_size are errors naming
// the key).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/run_config.h"

namespace taper::app {

struct GridCell {
  std::string name;  // the run folder's name under the sweep's --out
  RunConfig config;  // out = <sweep dir>/<name>, threads = the sweep's --threads
};

struct Grid {
  std::string name, description;
  std::vector<GridCell> cells;  // models x data x policies x widths x seeds, in that nesting order
};

// Reads and checks a grid file; every cell's config is resolved (match_size
// to a width) and validated before anything runs.
Grid read_grid(const std::string& path, const std::string& out_dir, int threads);

// Whether a run folder's config.json holds the settings of `cell`: every
// key of the cell's config but "out" and "threads" equal (a key the cell
// leaves empty — data or augment chosen by default — is not compared).
bool same_settings(const nlohmann::json& recorded, const RunConfig& cell);

}  // namespace taper::app
