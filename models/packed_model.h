// PackedModel — the integer inference engine: runs a packed model file
// (models/export.h, docs/packed-format.md) with no tape and no float weights
// for quantized layers on codes.
//
// Per layer, by its role (models/packed_plan.h):
//   int_layer     u8 activation codes in, the exact int32 accumulator A from
//                 the phase-1 kernels (IntConv for a conv, one image at a
//                 time so that A is read in cache; int_gemm for a linear
//                 layer; quant/int_conv.h, quant/int_gemm.h), then
//                 folded:   codes = apply_thresholds(A)      (quant/thresholds.h)
//                 unfolded: y_c = float(A) * acc_scale_c (+ bias_c), float out,
//                           acc_scale_c = float(s_c / (L P)) (s_c = 1 for k >= 2)
//   float_q_layer the float conv/linear with weights expanded from the codes
//                 at load (code_to_grid: the training grid bit for bit); only
//                 for layers whose input is float (the first conv of vgg7,
//                 resnet20's s1b1_conv1, lenet5's conv2: a few thousand weights)
//   float_layer   float32 as the float engine computes it: full-precision
//                 conv/linear (layers/), batch norm y = (x - mean) * scale +
//                 shift, add, clamp, average pooling, ReLU
//   quantize      float -> codes, p = nearbyint(P clamp(x, 0, 1))
//   same          max pooling (codes: max of the codes, which is the code of
//                 the max since p -> p / P is increasing; quant/pool_codes.h),
//                 flatten, dropout
//                 (identity), ReLU (codes: identity)
// A layer that reads codes where it needs floats (a float layer after a
// qact, e.g. the output layer, an add, global average pooling) dequantizes
// them first: x = float(p) / float(P), the quantizer's own value.
//
// Residual adds (resnet20): the branch from the conv is float (its batch
// norm is not followed by a quantizer), the shortcut is float or codes
// dequantized exactly as above; the float sum then goes through the next
// qact's quantize. Where the shortcut is computed before the branch's conv,
// the conv's per-image epilogue does batch norm, add and quantize in one
// pass and writes the add's codes itself: with a shortcut of codes (a <= 4)
// as thresholds indexed by the shortcut's code (quant/residual_thresholds.h,
// folded at load from the same float formula), else the same float ops. The only
// rounding that differs from the float engine is
// float(A) * acc_scale against the float conv's sum of products: both are
// within a few float ulps of the exact A / (L P), so a code differs only
// where a value lies within those ulps of a rounding boundary
// (docs/packed-format.md measures how often).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "engine/tensor.h"
#include "models/model_spec.h"

namespace taper {

class PackedModel {
 public:
  // Validates the whole file (metadata, every tensor's dtype and shape
  // against the plan, codes, thresholds, finite floats) and prepares the
  // kernels. Throws Error naming the file and the tensor or key.
  explicit PackedModel(const SafeTensors& file);
  ~PackedModel();
  PackedModel(const PackedModel&) = delete;
  PackedModel& operator=(const PackedModel&) = delete;

  // x (N, C, H, W), normalized as the model was trained -> logits (N, classes).
  // A batch of at least as many images as threads runs in chunks of about
  // kChunkImages images, each chunk through the convolutional layers on one
  // thread (its activations stay in that core's cache from layer to layer,
  // and the threads meet once per forward instead of once per layer); the
  // layers from the first linear one on then run on the whole batch. Every
  // op is per image, so an image's logits are the same bits in any batch.
  const Tensor& forward(const Tensor& x);

  const ModelSpec& spec() const { return spec_; }
  const std::string& wbits() const { return wbits_; }
  int abits() const { return abits_; }
  const std::vector<double>& normalize_mean() const { return mean_; }
  const std::vector<double>& normalize_std() const { return std_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Bytes of weights, thresholds and float parameters the engine keeps
  // (the kernels' prepared layouts: docs/packed-format.md, "Resident weight memory").
  int64_t resident_weight_bytes() const;
  // The part of it that is the `int` layers' weights as their kernels hold
  // them: the packed codes (dot), k bit planes with rows padded to the
  // column word (bitplane).
  int64_t resident_code_bytes() const;
  // How many layers, from the input on, run chunk by chunk (0: the whole
  // batch goes through every layer at once; see forward).
  size_t chunked_layers() const { return tail_begin_; }
  // Images per chunk (default kChunkImages); 0 runs every layer on the
  // whole batch, as one chunk.
  void set_chunk_images(int64_t n) { chunk_images_ = n; }

  struct Layer;   // models/packed_model.cpp
  struct Value;
  struct Worker;

 private:
  // A batch runs in chunks of about this many images (the engine's
  // activations of a chunk stay in the cache from one layer to the next),
  // the chunks split over the threads.
  static constexpr int64_t kChunkImages = 8;
  Worker& worker(int t);  // worker t's buffers, made on first use
  void run_layers(Worker& w, size_t first, size_t last, Value* before);

  ModelSpec spec_;
  std::string wbits_;
  int abits_ = 32;
  std::vector<double> mean_, std_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::unique_ptr<Layer>> layers_;
  // Layers [0, tail_begin_) run chunk by chunk, the rest on the whole batch
  // (0: no chunks, see the constructor).
  size_t tail_begin_ = 0;
  int64_t chunk_images_ = kChunkImages;
  std::vector<std::unique_ptr<Worker>> workers_;  // one per thread
};

}  // namespace taper
