// 2-d pooling over each (H, W) plane of x (N, C, H, W), PyTorch semantics.
//   MaxPool2d, AvgPool2d: y (N, C, OH, OW) with OH = (H + 2 padding - kernel) / stride + 1
//     (floor), OW alike; square windows; padding <= kernel / 2 (else Error).
//     Max pooling pads with -inf (a padded cell never wins). Average pooling
//     pads with zeros and always divides by kernel * kernel (PyTorch's default
//     count_include_pad = true).
//   GlobalAvgPool: y (N, C), the mean of each plane.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/autograd.h"

namespace taper {

class MaxPool2d : public Op {
 public:
  MaxPool2d(int kernel, int stride, int padding);
  Var& forward(Var& x, Tape& tape);
  void backward() override;
  const char* type() const override { return "maxpool"; }
  // Backward: routes through the cached argmax, input only for its shape.
  bool backward_reads_input(int) const override { return false; }

 private:
  int kernel_, stride_, padding_;
  Var* x_ = nullptr;
  // (N, C, OH, OW) cached for backward: for each output, the index h * W + w
  // in its input plane of the window's maximum (the first one on ties). The
  // gradient goes there and nowhere else; keeping the index means backward
  // never rescans the windows.
  std::vector<int32_t> argmax_;
};

// One plane of max pooling: y (OH, OW) from x (H, W), and when argmax is
// not null, each output's window maximum as h * W + w. The reference scans
// each window in row-major order and takes a cell when maxpool_takes says so
// (strictly larger, or NaN), so ties keep the first maximum and a NaN wins.
// The 2x2, stride-2, unpadded plane (every max pool of the shipped models) is
// the same scan unrolled and branch-free; it equals the reference exactly.
inline bool maxpool_takes(float v, float best) { return v > best || std::isnan(v); }
void maxpool_plane_ref(const float* x, int64_t H, int64_t W, int kernel, int stride, int padding,
                       int64_t OH, int64_t OW, float* y, int32_t* argmax);
void maxpool2x2_plane(const float* x, int64_t H, int64_t W, float* y, int32_t* argmax);

class AvgPool2d : public Op {
 public:
  AvgPool2d(int kernel, int stride, int padding);
  Var& forward(Var& x, Tape& tape);
  void backward() override;
  const char* type() const override { return "avgpool"; }
  // Backward: spreads dy over each window, input only for its shape.
  bool backward_reads_input(int) const override { return false; }

 private:
  int kernel_, stride_, padding_;
  // Cached for backward: the input Var only (for its shape and grad); the
  // derivative 1 / kernel^2 needs no values.
  Var* x_ = nullptr;
};

class GlobalAvgPool : public Op {
 public:
  Var& forward(Var& x, Tape& tape);
  void backward() override;
  const char* type() const override { return "globalavgpool"; }
  // Backward: spreads dy over each plane, input only for its shape.
  bool backward_reads_input(int) const override { return false; }

 private:
  // Cached for backward: the input Var only (for its shape and grad).
  Var* x_ = nullptr;
};

}  // namespace taper
