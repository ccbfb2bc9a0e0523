// The PNG figures of taper, drawn into an RGB image and written with
// stb_image_write:
//   curves.png   loss and accuracy per epoch. Left panel: train and
//                validation loss. Right panel: train, validation and test
//                accuracy (in %).
//   charts       (draw_chart) for the sweep report: series of points with
//                optional lines, error bars and a log x axis, and a legend.
//   scatter      panels of 2-D points coloured by class (the t-SNE figures
//                of `taper analyze`), each panel scaled to its own points.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace taper::app {

struct EpochMetrics {
  int epoch = 0;  // 1-based
  double lr = 0, train_loss = 0, train_acc = 0;  // accuracies are fractions in [0, 1]
  bool has_val = false;
  double val_loss = 0, val_acc = 0;
  double test_acc = 0;
  double img_s = 0, seconds = 0;
};

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // (height, width, 3)
};

using Color = std::array<uint8_t, 3>;
inline constexpr Color kTrainColor = {31, 119, 180};
inline constexpr Color kValColor = {255, 127, 14};
inline constexpr Color kTestColor = {44, 160, 44};

struct PlotPoint {
  int x, y;
};

// Where the value of epoch index i (0-based) lands in panel 0 (loss) or 1
// (accuracy, value as a fraction), for the same metrics the image shows.
PlotPoint curve_point(const std::vector<EpochMetrics>& m, int panel, size_t i, double value);

Image draw_curves(const std::vector<EpochMetrics>& m);
// Writes the PNG to path + ".tmp" and renames it over path.
void write_curves_png(const std::string& path, const std::vector<EpochMetrics>& m);
void write_png(const std::string& path, const Image& img);

enum class Marker { Square, Diamond, Ring, None };  // Ring: radius 7-9 px, to circle another marker

struct Series {
  std::string label;             // in the legend; empty: not listed
  Color color{0, 0, 0};
  Marker marker = Marker::Square;
  bool line = false;             // join the points in the order given
  std::vector<double> x, y;      // the points
  std::vector<double> err;       // empty, or +- y error bar per point
  std::vector<std::string> tags; // empty, or a short text written next to each point
};

// A series with no points yet.
inline Series make_series(std::string label, Color color, Marker marker, bool line = false) {
  Series s;
  s.label = std::move(label);
  s.color = color;
  s.marker = marker;
  s.line = line;
  return s;
}

struct Chart {
  int width = 900, height = 560;
  std::string title, x_label, y_label;
  bool log_x = false;            // x axis in log10 (every x must be > 0)
  bool whole_x = false;          // x ticks at whole numbers only (epochs)
  std::vector<Series> series;
};

// Pixel position of (x, y) in the chart's plot area (the axes fitted to all
// series, error bars included).
PlotPoint chart_point(const Chart& chart, double x, double y);
Image draw_chart(const Chart& chart);

// Axis ticks: the multiples of one round step (1, 2 or 5 x 10^k) in [lo, hi],
// the step nearest in ratio to (hi - lo) / target; labelled by
// tick_label with as many decimals as the step needs (2.5 with step 0.5, 40
// with step 10); the step is at least min_step (1 for whole numbers, a
// round step itself). Throws unless lo < hi, both finite, target >= 1.
std::vector<double> nice_ticks(double lo, double hi, int target, double min_step = 0);
std::string tick_label(double v, double step);

// A qualitative palette (matplotlib's tab10) for the i-th series.
Color palette(size_t i);

// One scatter panel: n points (x, y) with a class each.
struct ScatterPanel {
  std::string title;
  std::string subtitle;          // a second line (e.g. the separability numbers)
  std::vector<double> xy;        // (n, 2) row-major
  std::vector<int64_t> labels;   // (n), each in [0, class_names.size())
};

// The colour of class c (matplotlib's tab10 palette, repeating after 10).
Color class_color(int64_t c);

// Panels of kScatterPanel x kScatterPanel pixels in rows of `columns`, with
// a legend of the class names underneath. Each panel maps its points'
// bounding box (plus a margin) onto its square.
inline constexpr int kScatterPanel = 300;
Image draw_scatter(const std::vector<ScatterPanel>& panels, int columns, const std::vector<std::string>& class_names);
void write_scatter_png(const std::string& path, const std::vector<ScatterPanel>& panels, int columns,
                       const std::vector<std::string>& class_names);

// Where point (x, y) of a panel lands, in that panel's own pixel coordinates.
PlotPoint scatter_point(const ScatterPanel& panel, double x, double y);

}  // namespace taper::app
