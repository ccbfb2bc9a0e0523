#include "apps/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
// stb_easy_font defines a spacing setter taper does not call.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop
#include <stb_image_write.h>

#include "engine/error.h"

namespace taper::app {

namespace {

constexpr int kWidth = 900, kHeight = 380;
constexpr int kPanelWidth = kWidth / 2;
constexpr int kLeft = 56, kRight = 16, kTop = 34, kBottom = 36;  // margins inside a panel
constexpr Color kAxis = {60, 60, 60}, kGrid = {225, 225, 225}, kText = {30, 30, 30}, kWhite = {255, 255, 255};

// The y range of a panel: loss from 0 to a bit above the largest value,
// accuracy (in %) from the tens below the smallest value to 100.
void y_range(const std::vector<EpochMetrics>& m, int panel, double& lo, double& hi) {
  if (panel == 0) {
    double top = 0.0;
    for (const auto& e : m) {
      if (std::isfinite(e.train_loss)) top = std::max(top, e.train_loss);
      if (e.has_val && std::isfinite(e.val_loss)) top = std::max(top, e.val_loss);
    }
    lo = 0.0;
    hi = top > 0.0 ? top * 1.08 : 1.0;
  } else {
    double bottom = 100.0;
    for (const auto& e : m) {
      bottom = std::min({bottom, 100.0 * e.train_acc, 100.0 * e.test_acc});
      if (e.has_val) bottom = std::min(bottom, 100.0 * e.val_acc);
    }
    lo = std::clamp(std::floor(bottom / 10.0) * 10.0, 0.0, 90.0);
    hi = 100.0;
  }
}

struct Canvas {
  Image img;
  void put(int x, int y, Color c) {
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
    uint8_t* p = &img.rgb[(static_cast<size_t>(y) * img.width + x) * 3];
    p[0] = c[0], p[1] = c[1], p[2] = c[2];
  }
  void rect(int x0, int y0, int x1, int y1, Color c) {
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) put(x, y, c);
  }
  // A line two pixels thick (Bresenham, each point drawn as a 2x2 block).
  void line(int x0, int y0, int x1, int y1, Color c) {
    int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    while (true) {
      rect(x0, y0, x0 + 2, y0 + 2, c);
      if (x0 == x1 && y0 == y1) break;
      int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  // Text with stb_easy_font: its quads are axis-aligned rectangles.
  void text(int x, int y, const std::string& s, Color c) {
    static char buffer[60000];
    std::string copy = s;
    int quads = stb_easy_font_print(static_cast<float>(x), static_cast<float>(y), copy.data(), nullptr, buffer,
                                    sizeof buffer);
    for (int q = 0; q < quads; ++q) {
      const float* v = reinterpret_cast<const float*>(buffer + q * 64);  // 4 vertices of 16 bytes
      int x0 = static_cast<int>(v[0]), y0 = static_cast<int>(v[1]);
      int x1 = static_cast<int>(v[8]), y1 = static_cast<int>(v[9]);  // the opposite corner
      rect(std::min(x0, x1), std::min(y0, y1), std::max(x0, x1), std::max(y0, y1), c);
    }
  }
};

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target, double min_step) {
  check(std::isfinite(lo) && std::isfinite(hi) && lo < hi && target >= 1, "nice_ticks: need lo < hi, got ", lo,
        " and ", hi);
  // The step of 1, 2 or 5 times a power of ten nearest (in ratio) to (hi - lo) / target.
  double raw = (hi - lo) / target, p = std::pow(10.0, std::floor(std::log10(raw))), step = p;
  for (double m : {2.0, 5.0, 10.0})
    if (std::fabs(std::log(m * p / raw)) < std::fabs(std::log(step / raw))) step = m * p;
  step = std::max(step, min_step);
  std::vector<double> t;
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k += 1)
    t.push_back(k * step == 0 ? 0.0 : k * step);  // no "-0"
  return t;
}

std::string tick_label(double v, double step) {
  int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

PlotPoint curve_point(const std::vector<EpochMetrics>& m, int panel, size_t i, double value) {
  double lo, hi;
  y_range(m, panel, lo, hi);
  const int x0 = panel * kPanelWidth + kLeft, x1 = (panel + 1) * kPanelWidth - kRight;
  const int y0 = kTop, y1 = kHeight - kBottom;
  double fx = m.size() > 1 ? static_cast<double>(i) / (m.size() - 1) : 0.5;
  double v = panel == 1 ? 100.0 * value : value;
  double fy = std::clamp((v - lo) / (hi - lo), 0.0, 1.0);
  return {x0 + static_cast<int>(std::lround(fx * (x1 - x0))), y1 - static_cast<int>(std::lround(fy * (y1 - y0)))};
}

Image draw_curves(const std::vector<EpochMetrics>& m) {
  Canvas c;
  c.img.width = kWidth;
  c.img.height = kHeight;
  c.img.rgb.assign(static_cast<size_t>(kWidth) * kHeight * 3, 255);
  for (int panel = 0; panel < 2; ++panel) {
    double lo, hi;
    y_range(m, panel, lo, hi);
    const int x0 = panel * kPanelWidth + kLeft, x1 = (panel + 1) * kPanelWidth - kRight;
    const int y0 = kTop, y1 = kHeight - kBottom;
    const std::vector<double> ticks = nice_ticks(lo, hi, 5);  // horizontal grid lines with labels
    for (double v : ticks) {
      int y = y1 - static_cast<int>(std::lround((v - lo) / (hi - lo) * (y1 - y0)));
      c.rect(x0, y, x1, y + 1, kGrid);
      c.text(x0 - 40, y - 3, tick_label(v, ticks.size() > 1 ? ticks[1] - ticks[0] : 1), kText);
    }
    c.rect(x0, y0, x0 + 1, y1 + 1, kAxis);
    c.rect(x0, y1, x1, y1 + 1, kAxis);
    c.text(x0, y1 + 10, m.empty() ? "epoch" : "epoch 1 .. " + std::to_string(m.back().epoch), kText);
    c.text(x0, 8, panel == 0 ? "loss" : "accuracy (%)", kText);
    struct Series {
      const char* name;
      Color color;
      bool shown;
    };
    bool val = !m.empty() && m.back().has_val;
    std::vector<Series> series = {{"train", kTrainColor, true}, {"val", kValColor, val}};
    if (panel == 1) series.push_back({"test", kTestColor, true});
    int lx = x0 + 110;
    for (const auto& s : series) {
      if (!s.shown) continue;
      c.rect(lx, 10, lx + 14, 14, s.color);
      c.text(lx + 18, 8, s.name, kText);
      lx += 70;
    }
    for (size_t si = 0; si < series.size(); ++si) {
      if (!series[si].shown) continue;
      auto value = [&](const EpochMetrics& e) {
        if (panel == 0) return si == 0 ? e.train_loss : e.val_loss;
        return si == 0 ? e.train_acc : si == 1 ? e.val_acc : e.test_acc;
      };
      for (size_t i = 0; i < m.size(); ++i) {
        if (!std::isfinite(value(m[i]))) continue;
        PlotPoint p = curve_point(m, panel, i, value(m[i]));
        c.rect(p.x - 2, p.y - 2, p.x + 3, p.y + 3, series[si].color);  // a marker per epoch
        if (i + 1 < m.size() && std::isfinite(value(m[i + 1]))) {
          PlotPoint q = curve_point(m, panel, i + 1, value(m[i + 1]));
          c.line(p.x, p.y, q.x, q.y, series[si].color);
        }
      }
    }
  }
  return c.img;
}

void write_curves_png(const std::string& path, const std::vector<EpochMetrics>& m) {
  write_png(path, draw_curves(m));
}

void write_png(const std::string& path, const Image& img) {
  const std::string tmp = path + ".tmp";
  if (!stbi_write_png(tmp.c_str(), img.width, img.height, 3, img.rgb.data(), img.width * 3))
    fail(tmp, ": cannot write the PNG");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(path, ": cannot rename ", tmp, " over it");
}

// ---- charts ---------------------------------------------------------------------------------

namespace {

constexpr int kChartLeft = 70, kChartRight = 250, kChartTop = 40, kChartBottom = 50;  // legend on the right

struct Axes {
  double x_lo, x_hi, y_lo, y_hi;  // x in log10 when log_x
};

Axes fit_axes(const Chart& chart) {
  Axes a{INFINITY, -INFINITY, INFINITY, -INFINITY};
  for (const auto& s : chart.series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (chart.log_x) check(s.x[i] > 0, "chart '", chart.title, "': log x axis needs x > 0, got ", s.x[i]);
      double x = chart.log_x ? std::log10(s.x[i]) : s.x[i];
      double e = i < s.err.size() && std::isfinite(s.err[i]) ? s.err[i] : 0.0;
      a.x_lo = std::min(a.x_lo, x), a.x_hi = std::max(a.x_hi, x);
      a.y_lo = std::min(a.y_lo, s.y[i] - e), a.y_hi = std::max(a.y_hi, s.y[i] + e);
    }
  if (!(a.x_lo <= a.x_hi)) a = {0, 1, 0, 1};  // no points
  double px = (a.x_hi - a.x_lo) * 0.06, py = (a.y_hi - a.y_lo) * 0.08;
  if (px == 0) px = chart.log_x ? 0.1 : std::max(1e-9, std::fabs(a.x_lo) * 0.1 + 0.5);
  if (py == 0) py = std::max(1e-9, std::fabs(a.y_lo) * 0.05 + 0.5);
  return {a.x_lo - px, a.x_hi + px, a.y_lo - py, a.y_hi + py};
}

void marker(Canvas& c, PlotPoint p, Marker m, Color color) {
  switch (m) {
    case Marker::Square: c.rect(p.x - 4, p.y - 4, p.x + 5, p.y + 5, color); break;
    case Marker::Diamond:
      for (int d = -6; d <= 6; ++d) c.rect(p.x - (6 - std::abs(d)), p.y + d, p.x + 7 - std::abs(d), p.y + d + 1, color);
      break;
    case Marker::Ring:
      for (int dy = -9; dy <= 9; ++dy)  // a ring of radius 7-9: drawn around another marker
        for (int dx = -9; dx <= 9; ++dx) {
          int r2 = dx * dx + dy * dy;
          if (r2 <= 81 && r2 >= 49) c.put(p.x + dx, p.y + dy, color);
        }
      break;
    case Marker::None: break;
  }
}

}  // namespace

Color palette(size_t i) {
  static const Color k[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                            {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return k[i % 10];
}

PlotPoint chart_point(const Chart& chart, double x, double y) {
  Axes a = fit_axes(chart);
  const int x0 = kChartLeft, x1 = chart.width - kChartRight, y0 = kChartTop, y1 = chart.height - kChartBottom;
  double fx = ((chart.log_x ? std::log10(x) : x) - a.x_lo) / (a.x_hi - a.x_lo);
  double fy = (y - a.y_lo) / (a.y_hi - a.y_lo);
  return {x0 + static_cast<int>(std::lround(fx * (x1 - x0))), y1 - static_cast<int>(std::lround(fy * (y1 - y0)))};
}

Image draw_chart(const Chart& chart) {
  Canvas c;
  c.img.width = chart.width;
  c.img.height = chart.height;
  c.img.rgb.assign(static_cast<size_t>(chart.width) * chart.height * 3, 255);
  const Axes a = fit_axes(chart);
  const int x0 = kChartLeft, x1 = chart.width - kChartRight, y0 = kChartTop, y1 = chart.height - kChartBottom;
  // y grid: round values 1, 2 or 5 x 10^k apart.
  const std::vector<double> yt = nice_ticks(a.y_lo, a.y_hi, 6);
  for (double v : yt) {
    int y = y1 - static_cast<int>(std::lround((v - a.y_lo) / (a.y_hi - a.y_lo) * (y1 - y0)));
    c.rect(x0, y, x1, y + 1, kGrid);
    c.text(x0 - 50, y - 3, tick_label(v, yt.size() > 1 ? yt[1] - yt[0] : 1), kText);
  }
  // x grid: powers of 1, 2, 5 per decade on a log axis, round values on a linear one.
  auto xpix = [&](double v) { return x0 + static_cast<int>(std::lround((v - a.x_lo) / (a.x_hi - a.x_lo) * (x1 - x0))); };
  auto log_label = [&](double v) {
    double value = std::pow(10.0, v);
    char b[32];
    if (value >= 1e6) std::snprintf(b, sizeof b, "%.3gM", value / 1e6);
    else if (value >= 1e3) std::snprintf(b, sizeof b, "%.3gk", value / 1e3);
    else std::snprintf(b, sizeof b, "%.3g", value);
    return std::string(b);
  };
  if (chart.log_x) {
    int ticks = 0;
    for (int d = static_cast<int>(std::floor(a.x_lo)); d <= static_cast<int>(std::ceil(a.x_hi)); ++d)
      for (double m : {1.0, 2.0, 5.0}) {
        double v = d + std::log10(m);
        if (v < a.x_lo || v > a.x_hi) continue;
        int x = xpix(v);
        c.rect(x, y0, x + 1, y1, kGrid);
        c.text(x - 8, y1 + 8, log_label(v), kText);
        ++ticks;
      }
    if (ticks < 2)  // a range inside one 1-2-5 step: label the ends
      for (double v : {a.x_lo, a.x_hi}) c.text(xpix(v) - 8, y1 + 8, log_label(v), kText);
  } else {
    const std::vector<double> xt = nice_ticks(a.x_lo, a.x_hi, 10, chart.whole_x ? 1.0 : 0.0);
    for (double v : xt) {
      int x = xpix(v);
      c.rect(x, y0, x + 1, y1, kGrid);
      c.text(x - 8, y1 + 8, tick_label(v, xt.size() > 1 ? xt[1] - xt[0] : 1), kText);
    }
  }
  c.rect(x0, y0, x0 + 1, y1 + 1, kAxis);
  c.rect(x0, y1, x1, y1 + 1, kAxis);
  c.text(x0, 12, chart.title, kText);
  c.text(x0 + (x1 - x0) / 2 - 40, y1 + 28, chart.x_label + (chart.log_x ? " (log scale)" : ""), kText);
  c.text(8, y0 - 16, chart.y_label, kText);
  int ly = y0;
  for (const auto& s : chart.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      PlotPoint p = chart_point(chart, s.x[i], s.y[i]);
      if (s.line && i + 1 < s.x.size()) {
        PlotPoint q = chart_point(chart, s.x[i + 1], s.y[i + 1]);
        c.line(p.x, p.y, q.x, q.y, s.color);
      }
      if (i < s.err.size() && std::isfinite(s.err[i]) && s.err[i] > 0) {
        PlotPoint lo = chart_point(chart, s.x[i], s.y[i] - s.err[i]);
        PlotPoint hi = chart_point(chart, s.x[i], s.y[i] + s.err[i]);
        c.rect(p.x, hi.y, p.x + 1, lo.y + 1, s.color);
        c.rect(p.x - 4, hi.y, p.x + 5, hi.y + 1, s.color);
        c.rect(p.x - 4, lo.y, p.x + 5, lo.y + 1, s.color);
      }
      marker(c, p, s.marker, s.color);
    }
    if (!s.label.empty()) {  // legend entry
      const int lx = x1 + 16;
      if (s.line) c.line(lx, ly + 4, lx + 20, ly + 4, s.color);
      marker(c, {lx + 10, ly + 4}, s.marker, s.color);
      c.text(lx + 28, ly, s.label, kText);
      ly += 18;
    }
  }
  // Tags last, each on a white box next to its point, clear of a ring of
  // radius 9: of the spots above or below, right or left of the point, the
  // one that would hide the fewest drawn pixels (lines, error bars, markers,
  // tags placed before it; the grid does not count), the first on a tie.
  auto hidden = [&](int bx0, int by0, int bx1, int by1) {
    int n = 0;
    for (int y = by0; y < by1; ++y)
      for (int x = bx0; x < bx1; ++x) {
        const uint8_t* px = &c.img.rgb[(static_cast<size_t>(y) * c.img.width + x) * 3];
        const Color v{px[0], px[1], px[2]};
        n += v != kWhite && v != kGrid;
      }
    return n;
  };
  for (const auto& s : chart.series)
    for (size_t i = 0; i < s.x.size() && i < s.tags.size(); ++i) {
      if (s.tags[i].empty()) continue;
      PlotPoint p = chart_point(chart, s.x[i], s.y[i]);
      std::string copy = s.tags[i];
      const int w = stb_easy_font_width(copy.data()), h = stb_easy_font_height(copy.data());
      const int spots[4][2] = {{p.x + 11, p.y - 16}, {p.x + 11, p.y + 9}, {p.x - 11 - w, p.y - 16},
                               {p.x - 11 - w, p.y + 9}};
      int tx = 0, ty = 0, best = -1;
      for (const auto& xy : spots) {
        const int bx0 = xy[0] - 1, by0 = xy[1] - 1, bx1 = xy[0] + w + 1, by1 = xy[1] + h + 1;
        if (bx0 <= x0 || bx1 > x1 || by0 < y0 || by1 >= y1) continue;  // inside the axes only
        const int n = hidden(bx0, by0, bx1, by1);
        if (best < 0 || n < best) best = n, tx = xy[0], ty = xy[1];
      }
      if (best < 0) tx = p.x + 11 + w <= x1 ? p.x + 11 : p.x - 11 - w, ty = p.y - 16;  // no spot fits inside
      c.rect(tx - 1, ty - 1, tx + w + 1, ty + h + 1, kWhite);
      c.text(tx, ty, s.tags[i], kText);
    }
  return c.img;
}

// ---- scatter figures --------------------------------------------------------------------------

Color class_color(int64_t c) { return palette(static_cast<size_t>(((c % 10) + 10) % 10)); }

namespace {

constexpr int kScatterTop = 34, kScatterMargin = 10;  // title lines above, margin around the points
constexpr int kLegendRow = 20;

// The bounding box of a panel's points.
void scatter_box(const ScatterPanel& p, double& x0, double& x1, double& y0, double& y1) {
  x0 = y0 = 1e300, x1 = y1 = -1e300;
  for (size_t i = 0; i + 1 < p.xy.size(); i += 2) {
    x0 = std::min(x0, p.xy[i]), x1 = std::max(x1, p.xy[i]);
    y0 = std::min(y0, p.xy[i + 1]), y1 = std::max(y1, p.xy[i + 1]);
  }
  if (x0 > x1) x0 = y0 = -1, x1 = y1 = 1;  // no points
}

}  // namespace

PlotPoint scatter_point(const ScatterPanel& p, double x, double y) {
  double x0, x1, y0, y1;
  scatter_box(p, x0, x1, y0, y1);
  // One scale for both axes, so distances in the picture are t-SNE's.
  const double span = std::max({x1 - x0, y1 - y0, 1e-12});
  const int side = kScatterPanel - 2 * kScatterMargin;
  const int height = kScatterPanel - kScatterTop - 2 * kScatterMargin;
  const double scale = std::min(side, height) / span;
  const double cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  return {kScatterPanel / 2 + static_cast<int>(std::lround((x - cx) * scale)),
          kScatterTop + kScatterMargin + height / 2 - static_cast<int>(std::lround((y - cy) * scale))};
}

Image draw_scatter(const std::vector<ScatterPanel>& panels, int columns, const std::vector<std::string>& class_names) {
  check(columns >= 1 && !panels.empty(), "a scatter figure needs at least one panel and one column");
  const int rows = (static_cast<int>(panels.size()) + columns - 1) / columns;
  const int cols = std::min<int>(columns, static_cast<int>(panels.size()));
  const int legend_per_row = std::max(1, cols * kScatterPanel / 120);
  const int legend_rows = (static_cast<int>(class_names.size()) + legend_per_row - 1) / legend_per_row;
  Canvas c;
  c.img.width = cols * kScatterPanel;
  c.img.height = rows * kScatterPanel + legend_rows * kLegendRow + 8;
  c.img.rgb.assign(static_cast<size_t>(c.img.width) * c.img.height * 3, 255);
  for (size_t k = 0; k < panels.size(); ++k) {
    const ScatterPanel& p = panels[k];
    check(p.xy.size() == 2 * p.labels.size(), "scatter panel '", p.title, "': ", p.xy.size() / 2, " points but ",
          p.labels.size(), " labels");
    const int ox = static_cast<int>(k % columns) * kScatterPanel, oy = static_cast<int>(k / columns) * kScatterPanel;
    c.rect(ox, oy, ox + kScatterPanel, oy + 1, kGrid);  // panel frame
    c.rect(ox, oy, ox + 1, oy + kScatterPanel, kGrid);
    c.text(ox + 8, oy + 6, p.title, kText);
    c.text(ox + 8, oy + 18, p.subtitle, kText);
    for (size_t i = 0; i < p.labels.size(); ++i) {
      PlotPoint q = scatter_point(p, p.xy[2 * i], p.xy[2 * i + 1]);
      c.rect(ox + q.x - 2, oy + q.y - 2, ox + q.x + 3, oy + q.y + 3, class_color(p.labels[i]));
    }
  }
  for (size_t l = 0; l < class_names.size(); ++l) {
    const int x = static_cast<int>(l % legend_per_row) * 120 + 8;
    const int y = rows * kScatterPanel + static_cast<int>(l / legend_per_row) * kLegendRow + 6;
    c.rect(x, y, x + 12, y + 12, class_color(static_cast<int64_t>(l)));
    c.text(x + 16, y + 2, class_names[l], kText);
  }
  return c.img;
}

void write_scatter_png(const std::string& path, const std::vector<ScatterPanel>& panels, int columns,
                       const std::vector<std::string>& class_names) {
  write_png(path, draw_scatter(panels, columns, class_names));
}

}  // namespace taper::app
