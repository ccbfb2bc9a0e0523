// taper report DIR — results.csv, summary.md, pareto.png and curves.png of
// the run folders under DIR (see apps/report.h and docs/sweep.md).
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/args.h"
#include "apps/files.h"
#include "apps/plot.h"
#include "apps/report.h"
#include "engine/error.h"

namespace taper::app {

using json = nlohmann::json;

namespace {

const char* kUsage =
    "usage: taper report DIR\n"
    "  Reads every run folder under DIR (a `taper sweep` output, or any folder of\n"
    "  `taper train` runs) and writes DIR/results.csv (one row per finished run),\n"
    "  DIR/summary.md (mean +- std over seeds per configuration), DIR/pareto.png\n"
    "  (test accuracy vs weight bytes) and DIR/curves.png (test accuracy per epoch);\n"
    "  for an equal-size grid (one model and data, every run at one --match-size)\n"
    "  also DIR/bits.png (test accuracy vs average weight bits).\n";

struct Run {
  std::string name;
  json config, result;
  std::vector<double> test_curve;  // test accuracy per epoch (fraction)
};

struct Config {  // the runs that differ only in their seed
  std::string label;
  std::vector<const Run*> runs;
};

bool is_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail(path, ": cannot open");
  try {
    return json::parse(f);
  } catch (const json::parse_error& e) {
    fail(path, ": not valid JSON: ", e.what());
  }
}

// The text of a setting in a CSV cell: strings bare (quoted when needed),
// numbers as JSON writes them, lists joined with ';', null empty.
std::string cell(const json& v) {
  std::string s;
  if (v.is_null()) return "";
  if (v.is_string()) s = v.get<std::string>();
  else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ";" : "") + cell(v[i]);
  } else s = v.dump();
  if (s.find_first_of(",\"\n") != std::string::npos) {
    std::string q = "\"";
    for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
  }
  return s;
}

double num(const json& v) { return v.is_number() ? v.get<double>() : NAN; }

struct Stat {
  double mean = NAN, std = NAN;  // std: sample (n - 1), NaN for one value
};

Stat stat_of(const std::vector<double>& v) {
  Stat s;
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / v.size();
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(ss / (v.size() - 1));
  }
  return s;
}

std::string pct(Stat s) {
  char b[64];
  if (std::isnan(s.mean)) return "-";
  if (std::isnan(s.std)) std::snprintf(b, sizeof b, "%.2f", 100 * s.mean);
  else std::snprintf(b, sizeof b, "%.2f +- %.2f", 100 * s.mean, 100 * s.std);
  return b;
}

bool progressive(const std::string& wbits) {
  return wbits.find('-') != std::string::npos || wbits.rfind("progressive", 0) == 0;
}

std::vector<Run> read_runs(const std::string& dir, int& unfinished) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (!d) fail(dir, ": cannot open the folder");
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != ".." && is_file(dir + "/" + n + "/config.json")) names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  std::vector<Run> runs;
  unfinished = 0;
  for (const auto& n : names) {
    const std::string base = dir + "/" + n;
    if (!is_file(base + "/result.json")) {
      ++unfinished;
      continue;
    }
    Run r;
    r.name = n;
    r.config = read_json(base + "/config.json");
    r.result = read_json(base + "/result.json");
    std::ifstream f(base + "/metrics.jsonl");
    std::string line;
    while (std::getline(f, line)) {
      if (line.empty()) continue;
      try {
        r.test_curve.push_back(json::parse(line).at("test_acc").get<double>());
      } catch (const json::exception& e) {
        fail(base, "/metrics.jsonl: bad line: ", e.what());
      }
    }
    runs.push_back(std::move(r));
  }
  return runs;
}

// Settings that identify a configuration: all but seed, out and threads.
std::string config_key(const json& c) {
  json k = c;
  for (const char* drop : {"seed", "out", "threads"}) k.erase(drop);
  return k.dump();
}

std::string config_label(const json& c, bool with_data) {
  std::string s = c.value("model", std::string("?"));
  if (with_data) s += " " + c.value("data", std::string(""));
  s += " w" + c.value("wbits", std::string("?")) + " a" + std::to_string(c.value("abits", 0));
  if (c.contains("match_size") && c["match_size"].is_string())
    s += " =size(w" + c["match_size"].get<std::string>() + ")";
  else if (num(c.value("width", json(1.0))) != 1.0) {
    char b[32];
    std::snprintf(b, sizeof b, " x%g", num(c["width"]));
    s += b;
  }
  return s;
}

}  // namespace

ReportCounts write_report(const std::string& dir) {
  ReportCounts counts;
  const std::string title = dir.substr(dir.find_last_of('/') == std::string::npos ? 0 : dir.find_last_of('/') + 1);
  std::vector<Run> runs = read_runs(dir, counts.unfinished);
  counts.finished = static_cast<int>(runs.size());

  // results.csv
  const std::vector<std::string> first = {"model", "data", "wbits", "abits", "width", "match_size", "seed"};
  std::vector<std::string> keys = first;
  for (const auto& r : runs)
    for (auto it = r.config.begin(); it != r.config.end(); ++it)
      if (it.key() != "out" && std::find(keys.begin(), keys.end(), it.key()) == keys.end()) keys.push_back(it.key());
  const std::vector<std::string> results = {"avg_weight_bits", "weight_bytes", "total_bytes", "best_epoch",
                                            "best_val_acc", "test_acc_at_best", "final_test_acc", "seconds"};
  std::ostringstream csv;
  csv << "run";
  for (const auto& k : keys) csv << "," << k;
  for (const auto& k : results) csv << "," << k;
  csv << "\n";
  for (const auto& r : runs) {
    csv << cell(r.name);
    for (const auto& k : keys) csv << "," << (r.config.contains(k) ? cell(r.config[k]) : "");
    for (const auto& k : results) csv << "," << (r.result.contains(k) ? cell(r.result[k]) : "");
    csv << "\n";
  }
  write_file_atomic(dir + "/results.csv", csv.str());

  // Configurations, in the order of their first run.
  std::set<std::string> datas;
  for (const auto& r : runs) datas.insert(r.config.value("data", std::string("")));
  std::vector<Config> configs;
  std::map<std::string, size_t> index;
  for (const auto& r : runs) {
    const std::string key = config_key(r.config);
    if (!index.count(key)) {
      index[key] = configs.size();
      configs.push_back({config_label(r.config, datas.size() > 1), {}});
    }
    configs[index[key]].runs.push_back(&r);
  }
  std::map<std::string, int> seen;  // the same label for different settings gets #2, #3
  for (auto& c : configs)
    if (++seen[c.label] > 1) c.label += " #" + std::to_string(seen[c.label]);
  counts.configurations = static_cast<int>(configs.size());

  // summary.md
  std::ostringstream md;
  md << "# Sweep report: " << title << "\n\n"
     << counts.finished << " finished runs in " << configs.size() << " configurations";
  if (counts.unfinished) md << "; " << counts.unfinished << " run folders not finished (left out)";
  md << ". Accuracies in %, mean +- sample standard deviation over the seeds; \"test at best val\" is the "
        "test accuracy at the epoch of the best validation accuracy (what the paper reports).\n\n"
     << "| configuration | wbits | abits | width | avg weight bits | weight bytes | total bytes | seeds | "
        "test at best val | last test | best val | epochs | seconds per run |\n"
     << "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  struct Point {
    double bytes, bits, acc, err;  // weight bytes, average weight bits, test accuracy (%) and its std
    std::string tag;
    bool prog;
  };
  std::vector<Point> points;
  for (const auto& c : configs) {
    std::vector<double> best, last, val, secs;
    for (const Run* r : c.runs) {
      best.push_back(num(r->result["test_acc_at_best"]));
      last.push_back(num(r->result["final_test_acc"]));
      if (r->result["best_val_acc"].is_number()) val.push_back(num(r->result["best_val_acc"]));
      secs.push_back(num(r->result["seconds"]));
    }
    const json& cf = c.runs[0]->config;
    const json& rs = c.runs[0]->result;
    char row[512];
    std::snprintf(row, sizeof row, "| %s | %s | %d | %.3f | %.4f | %lld | %lld | %zu | %s | %s | %s | %d | %.0f |\n",
                  c.label.c_str(), cf.value("wbits", std::string("?")).c_str(), cf.value("abits", 0),
                  num(cf["width"]), num(rs["avg_weight_bits"]), static_cast<long long>(num(rs["weight_bytes"])),
                  static_cast<long long>(num(rs["total_bytes"])), c.runs.size(), pct(stat_of(best)).c_str(),
                  pct(stat_of(last)).c_str(), pct(stat_of(val)).c_str(), cf.value("epochs", 0),
                  stat_of(secs).mean);
    md << row;
    Stat s = stat_of(best);
    char width[32] = "";
    if (num(cf["width"]) != 1.0) std::snprintf(width, sizeof width, " x%g", num(cf["width"]));
    points.push_back({num(rs["weight_bytes"]), num(rs["avg_weight_bits"]), 100 * s.mean, std::isnan(s.std) ? 0.0 : 100 * s.std,
                      "w" + cf.value("wbits", std::string("?")) + " a" + std::to_string(cf.value("abits", 0)) + width,
                      progressive(cf.value("wbits", std::string("")))});
  }
  write_file_atomic(dir + "/summary.md", md.str());

  // pareto.png: the front holds the configurations no other one beats with
  // at most their weight bytes.
  Chart pareto;
  pareto.title = "test accuracy at the best validation epoch vs model size (" + title + ")";
  pareto.x_label = "weight bytes";
  pareto.y_label = "test accuracy (%)";
  pareto.log_x = true;
  Series homo = make_series("homogeneous (one bit width)", palette(0), Marker::Square);
  Series prog = make_series("progressive (per stage)", palette(1), Marker::Diamond);
  for (const auto& p : points) {
    Series& s = p.prog ? prog : homo;
    s.x.push_back(p.bytes), s.y.push_back(p.acc), s.err.push_back(p.err), s.tags.push_back(p.tag);
  }
  std::vector<Point> sorted = points;
  std::sort(sorted.begin(), sorted.end(), [](const Point& a, const Point& b) {
    return a.bytes < b.bytes || (a.bytes == b.bytes && a.acc > b.acc);
  });
  Series front = make_series("Pareto front", {40, 40, 40}, Marker::Ring, true);
  double best_acc = -INFINITY;
  for (const auto& p : sorted)
    if (p.acc > best_acc) {
      front.x.push_back(p.bytes), front.y.push_back(p.acc);
      best_acc = p.acc;
    }
  pareto.series = {homo, prog, front};  // the front's rings drawn around the points
  if (!points.empty()) write_png(dir + "/pareto.png", draw_chart(pareto));

  // bits.png, for an equal-size grid (every configuration of one model and
  // data at one match_size): the weight bytes are all about the same, so the
  // Pareto plot's x axis says little; this one sets accuracy against the
  // average weight bits, the trade of bits for width.
  std::set<std::string> models, matches;
  for (const auto& c : configs) {
    const json& cf = c.runs[0]->config;
    models.insert(cf.value("model", std::string()) + " on " + cf.value("data", std::string()));
    matches.insert(cf.contains("match_size") && cf["match_size"].is_string() ? cf["match_size"].get<std::string>()
                                                                              : std::string());
  }
  const std::string match = models.size() == 1 && matches.size() == 1 ? *matches.begin() : "";
  if (!match.empty()) {
    Chart bits;
    bits.title = "test accuracy at the best validation epoch vs average weight bits, all at the weight bytes of w" +
                 match + " (" + title + ")";
    bits.x_label = "average weight bits";
    bits.y_label = "test accuracy (%)";
    Series h = make_series("homogeneous (one bit width)", palette(0), Marker::Square);
    Series g = make_series("progressive (per stage)", palette(1), Marker::Diamond);
    for (const auto& p : points) {
      Series& s = p.prog ? g : h;
      s.x.push_back(p.bits), s.y.push_back(p.acc), s.err.push_back(p.err), s.tags.push_back(p.tag);
    }
    bits.series = {h, g};
    write_png(dir + "/bits.png", draw_chart(bits));
    counts.bits_plot = true;
  } else {
    std::remove((dir + "/bits.png").c_str());  // an earlier report's, of runs that were all one size
  }

  // curves.png: mean test accuracy per epoch over the seeds (epochs every seed reached).
  Chart curves;
  curves.title = "test accuracy per epoch, mean over seeds (" + title + ")";
  curves.x_label = "epoch";
  curves.whole_x = true;
  curves.y_label = "test accuracy (%)";
  for (size_t i = 0; i < configs.size(); ++i) {
    Series s = make_series(configs[i].label, palette(i), Marker::None, true);
    size_t n = SIZE_MAX;
    for (const Run* r : configs[i].runs) n = std::min(n, r->test_curve.size());
    for (size_t e = 0; e < n; ++e) {
      double sum = 0;
      for (const Run* r : configs[i].runs) sum += r->test_curve[e];
      s.x.push_back(static_cast<double>(e + 1));
      s.y.push_back(100 * sum / configs[i].runs.size());
    }
    if (n == 1) s.marker = Marker::Square;
    curves.series.push_back(s);
  }
  if (!points.empty()) write_png(dir + "/curves.png", draw_chart(curves));
  return counts;
}

int cmd_report(int argc, char** argv) {
  Args args(argc, argv, {});
  if (args.help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positional(1, "the sweep folder");
  args.finish();
  const std::string dir = args.positional()[0];
  ReportCounts c = write_report(dir);
  if (!c.finished) fail(dir, ": no finished run folders (config.json and result.json) to report");
  std::printf("%d finished runs (%d configurations)%s: %s/results.csv, summary.md, pareto.png, curves.png%s\n",
              c.finished, c.configurations,
              c.unfinished ? (", " + std::to_string(c.unfinished) + " unfinished left out").c_str() : "",
              dir.c_str(), c.bits_plot ? ", bits.png" : "");
  return 0;
}

}  // namespace taper::app
