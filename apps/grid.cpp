#include "apps/grid.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

#include "apps/model_choice.h"
#include "engine/error.h"
#include "quant/policy.h"

namespace taper::app {

using json = nlohmann::json;

namespace {

// Keys of the recipe that the grid's axes or the sweep itself set.
const std::set<std::string> kAxisKeys = {"model", "data", "wbits", "abits", "width",
                                         "match_size", "seed", "threads", "out"};

const json& list(const json& g, const std::string& key, const std::string& path) {
  if (!g.contains(key)) fail(path, ": missing \"", key, "\"");
  const json& v = g.at(key);
  if (!v.is_array()) fail(path, ": \"", key, "\" must be a list");
  if (v.empty()) fail(path, ": \"", key, "\" is empty: list at least one value");
  return v;
}

std::string text_of(const json& v, const std::string& what) {
  if (v.is_string() && !v.get<std::string>().empty()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  fail(what, " must be a non-empty string or an integer, got ", v.dump());
}

// Letters, digits, '.', '-', '_' kept; anything else (':', '/', '@') becomes '_'.
std::string safe(const std::string& s) {
  std::string out;
  for (char ch : s) out += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_') ? ch : '_';
  return out;
}

std::string model_stem(const std::string& model) {
  std::string name = model;
  auto slash = name.find_last_of('/');
  if (slash != std::string::npos) name = name.substr(slash + 1);
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0) name.resize(name.size() - 5);
  return name;
}

std::string width_text(double w) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", w);
  return b;
}

struct Policy {
  std::string wbits, match_size;
  int abits = 32;
  std::vector<double> widths;  // empty: the grid's widths (unless match_size)
};

}  // namespace

Grid read_grid(const std::string& path, const std::string& out_dir, int threads) {
  std::ifstream f(path);
  if (!f) fail(path, ": cannot open the grid file");
  json g;
  try {
    g = json::parse(f);
  } catch (const json::parse_error& e) {
    fail(path, ": not valid JSON: ", e.what());
  }
  if (!g.is_object()) fail(path, ": a grid must be a JSON object");
  const std::set<std::string> known = {"name", "description", "models", "data", "policies", "widths", "seeds", "recipe"};
  for (auto it = g.begin(); it != g.end(); ++it)
    if (!known.count(it.key()))
      fail(path, ": unknown key \"", it.key(),
           "\" (expected name, description, models, data, policies, widths, seeds, recipe)");

  Grid grid;
  if (!g.contains("name") || !g["name"].is_string() || g["name"].get<std::string>().empty())
    fail(path, ": \"name\" must be a non-empty string");
  grid.name = g["name"];
  if (g.contains("description")) {
    if (!g["description"].is_string()) fail(path, ": \"description\" must be a string");
    grid.description = g["description"];
  }

  std::vector<std::string> models, data;
  for (const auto& m : list(g, "models", path)) models.push_back(text_of(m, path + ": \"models\" entry"));
  for (const auto& d : list(g, "data", path)) data.push_back(text_of(d, path + ": \"data\" entry"));
  std::vector<uint64_t> seeds;
  for (const auto& s : list(g, "seeds", path)) {
    if (!s.is_number_integer() || s.get<int64_t>() < 0) fail(path, ": \"seeds\" must hold integers >= 0, got ", s.dump());
    seeds.push_back(s.get<uint64_t>());
  }
  std::vector<double> widths = {1.0};
  if (g.contains("widths")) {
    widths.clear();
    for (const auto& w : list(g, "widths", path)) {
      if (!w.is_number() || !(w.get<double>() >= 1e-3 && w.get<double>() <= 64.0))
        fail(path, ": \"widths\" must hold numbers in [0.001, 64], got ", w.dump());
      widths.push_back(w.get<double>());
    }
  }

  std::vector<Policy> policies;
  const json& plist = list(g, "policies", path);
  for (size_t i = 0; i < plist.size(); ++i) {
    const std::string where = path + ": \"policies\"[" + std::to_string(i) + "]";
    const json& p = plist[i];
    if (!p.is_object()) fail(where, " must be an object like {\"wbits\": \"4-2-1\", \"abits\": 2}");
    Policy pol;
    for (auto it = p.begin(); it != p.end(); ++it) {
      const std::string& k = it.key();
      if (k == "wbits") pol.wbits = text_of(it.value(), where + ".wbits");
      else if (k == "abits") {
        if (!it.value().is_number_integer()) fail(where, ".abits must be an integer (1-8 or 32)");
        pol.abits = static_cast<int>(it.value().get<int64_t>());
      } else if (k == "match_size") pol.match_size = text_of(it.value(), where + ".match_size");
      else if (k == "width") {
        if (!it.value().is_number()) fail(where, ".width must be a number");
        pol.widths = {it.value().get<double>()};
      } else fail(where, ": unknown key \"", k, "\" (expected wbits, abits, and width or match_size)");
    }
    if (pol.wbits.empty()) fail(where, ": missing \"wbits\"");
    if (!p.contains("abits")) fail(where, ": missing \"abits\"");
    if (!pol.match_size.empty() && !pol.widths.empty()) fail(where, ": give \"width\" or \"match_size\", not both");
    policies.push_back(pol);
  }

  json recipe = json::object();
  if (g.contains("recipe")) {
    recipe = g["recipe"];
    if (!recipe.is_object()) fail(path, ": \"recipe\" must be an object of `taper train` settings");
    for (auto it = recipe.begin(); it != recipe.end(); ++it)
      if (kAxisKeys.count(it.key()))
        fail(path, ": \"recipe\" key \"", it.key(), "\" is set by the grid's axes or the sweep, not the recipe");
  }

  std::set<std::string> names;
  for (const auto& model : models) {
    ModelSpec spec;
    try {
      spec = load_model_file(resolve_model_path(model));
    } catch (const Error& e) {
      fail(path, ": \"models\" entry ", model, ": ", e.what());
    }
    for (const auto& d : data)
      for (size_t pi = 0; pi < policies.size(); ++pi) {
        const Policy& pol = policies[pi];
        const std::string where = path + ": \"policies\"[" + std::to_string(pi) + "]";
        std::vector<double> ws = pol.widths.empty() ? widths : pol.widths;
        if (!pol.match_size.empty()) {
          try {
            ws = {matched_width(resolve_model_path(model), pol.wbits, pol.match_size)};
          } catch (const Error& e) {
            fail(where, ".match_size \"", pol.match_size, "\" (model ", model, ", wbits ", pol.wbits, "): ", e.what());
          }
        }
        for (double w : ws)
          for (uint64_t seed : seeds) {
            json j = recipe;
            j["model"] = model;
            j["data"] = d;
            j["wbits"] = pol.wbits;
            j["abits"] = pol.abits;
            j["width"] = w;
            if (!pol.match_size.empty()) j["match_size"] = pol.match_size;
            j["seed"] = seed;
            j["threads"] = threads;
            GridCell cell;
            cell.name = safe(model_stem(model)) + "-" + safe(d) + "-w" + safe(pol.wbits) + "-a" +
                        std::to_string(pol.abits) +
                        (pol.match_size.empty() ? "-x" + width_text(w) : "-match" + safe(pol.match_size)) + "-s" +
                        std::to_string(seed);
            j["out"] = out_dir + "/" + cell.name;
            try {
              parse_wbits(pol.wbits, spec.num_stages);
              cell.config = run_config_from_json(j, path);
            } catch (const Error& e) {
              fail(where, " with model ", model, ": ", e.what());
            }
            if (!names.insert(cell.name).second)
              fail(path, ": two cells are both ", cell.name, " (a repeated model, data, policy, width or seed)");
            grid.cells.push_back(cell);
          }
      }
  }
  // Seed by seed: every configuration at the first seed runs before any at
  // the second, so a sweep stopped halfway already covers the whole grid.
  auto seed_rank = [&](const GridCell& c) {
    return std::find(seeds.begin(), seeds.end(), c.config.seed) - seeds.begin();
  };
  std::stable_sort(grid.cells.begin(), grid.cells.end(),
                   [&](const GridCell& a, const GridCell& b) { return seed_rank(a) < seed_rank(b); });
  return grid;
}

bool same_settings(const json& recorded, const RunConfig& cell) {
  if (!recorded.is_object()) return false;
  const json expected = json::parse(cell.to_json().dump());
  for (auto it = expected.begin(); it != expected.end(); ++it) {
    if (it.key() == "out" || it.key() == "threads") continue;
    if (it.value().is_string() && it.value().get<std::string>().empty()) continue;
    if (!recorded.contains(it.key()) || recorded.at(it.key()) != it.value()) return false;
  }
  return true;
}

}  // namespace taper::app
