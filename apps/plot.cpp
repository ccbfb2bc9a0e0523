#include "apps/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stb_easy_font.h>
#include <stb_image_write.h>

#include "engine/error.h"

namespace taper::app {

namespace {

constexpr int kWidth = 900, kHeight = 380;
constexpr int kPanelWidth = kWidth / 2;
constexpr int kLeft = 56, kRight = 16, kTop = 34, kBottom = 36;  // margins inside a panel
constexpr Color kAxis = {60, 60, 60}, kGrid = {225, 225, 225}, kText = {30, 30, 30};

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

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, std::fabs(v) >= 10 || v == 0 ? "%.0f" : "%.2g", v);
  return b;
}

}  // namespace

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
    for (int t = 0; t <= 4; ++t) {  // horizontal grid lines with labels
      int y = y1 - (y1 - y0) * t / 4;
      c.rect(x0, y, x1, y + 1, kGrid);
      c.text(x0 - 40, y - 3, fmt(lo + (hi - lo) * t / 4), kText);
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

// Writes img to path + ".tmp" and renames it over path.
static void write_png(const std::string& path, const Image& img) {
  const std::string tmp = path + ".tmp";
  if (!stbi_write_png(tmp.c_str(), img.width, img.height, 3, img.rgb.data(), img.width * 3))
    fail(tmp, ": cannot write the PNG");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(path, ": cannot rename ", tmp, " over it");
}

void write_curves_png(const std::string& path, const std::vector<EpochMetrics>& m) { write_png(path, draw_curves(m)); }

Color class_color(int64_t c) {
  static const Color tab10[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                  {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return tab10[((c % 10) + 10) % 10];
}

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
