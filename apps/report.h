// The report of a sweep folder (`taper report DIR`, also run at the end of
// `taper sweep`): every finished run folder under DIR (config.json and
// result.json present) becomes one row of DIR/results.csv; runs that differ
// only in their seed form one configuration, summarized in DIR/summary.md
// (mean +- sample std over seeds) and drawn in DIR/pareto.png (test accuracy
// at the best validation epoch vs weight bytes, log x, error bars, the
// Pareto front, homogeneous and progressive policies told apart) and
// DIR/curves.png (mean test accuracy per epoch, one line per configuration);
// an equal-size grid (one model and data, every run at one match_size) also
// gets DIR/bits.png (test accuracy vs average weight bits, error bars).
#pragma once

#include <string>

namespace taper::app {

struct ReportCounts {
  int finished = 0;    // rows in results.csv
  int unfinished = 0;  // run folders without result.json
  int configurations = 0;
  bool bits_plot = false;  // bits.png written (an equal-size grid)
};

ReportCounts write_report(const std::string& dir);

}  // namespace taper::app
