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

void write_curves_png(const std::string& path, const std::vector<EpochMetrics>& m) {
  Image img = draw_curves(m);
  const std::string tmp = path + ".tmp";
  if (!stbi_write_png(tmp.c_str(), img.width, img.height, 3, img.rgb.data(), img.width * 3))
    fail(tmp, ": cannot write the PNG");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(path, ": cannot rename ", tmp, " over it");
}

}  // namespace taper::app
