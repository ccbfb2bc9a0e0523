// curves.png: loss and accuracy per epoch, drawn into an RGB image and
// written with stb_image_write. Left panel: train and validation loss.
// Right panel: train, validation and test accuracy (in %).
#pragma once

#include <array>
#include <cstdint>
#include <string>
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

}  // namespace taper::app
