// Conv2d — 2-D convolution with stride, zero padding and groups (NCHW).
//
//   x (N, IC, H, W), w (OC, IC/groups, KH, KW) — PyTorch's layout,
//   b (OC) optional, y (N, OC, OH, OW) with OH = conv_out_size(H, KH, SH, PH).
//
//   y[n, o, i, j] = b[o] + sum_{c, kh, kw} w[o, c, kh, kw]
//                          * x[n, g*ICg + c, i*SH - PH + kh, j*SW - PW + kw]
//
// where g = o / OCg is the group of output channel o, ICg = IC/groups,
// OCg = OC/groups, and x reads zero outside the image (padding).
//
// Fast paths, parallel over blocks of images with one workspace per
// thread that is reused every step:
// - "same"-padded convolutions, strided or not (3x3 pad 1, 3x3 stride 2
//   pad 1, 1x1 stride 2, ...): direct AVX-512 kernels that read the im2col
//   matrix straight from the image (engine/direct_conv.h);
// - all others: im2col + SGEMM (engine/im2col.h, engine/gemm.h);
// - the weight gradient, for every geometry: engine/conv_weight_grad.h.
// Small images are batched: several images side by side in one plane or
// one wider GEMM. Reference loops below; the tests hold every path to them.
#pragma once

#include <vector>

#include "engine/autograd.h"
#include "engine/direct_conv.h"
#include "engine/im2col.h"

namespace taper {

struct Conv2dParams {
  int64_t in_channels, out_channels, kernel_h, kernel_w;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, groups = 1;
};

// Output length of a convolution along one axis: floor((in + 2 pad - kernel)
// / stride) + 1. Throws Error when the kernel does not fit (result < 1).
int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad);

class Conv2d : public Op {
 public:
  // Throws Error unless all sizes are positive, padding is >= 0 and both
  // channel counts are divisible by groups.
  explicit Conv2d(const Conv2dParams& p);

  // x (N, IC, H, W), w (OC, IC/groups, KH, KW), b (OC) or nullptr;
  // returns out with data (N, OC, OH, OW).
  Var& forward(Var& x, Var& w, Var* b, Tape& tape);
  // Adds into dx (only if x.requires_grad), dw and db (if they require grad).
  void backward() override;
  const char* type() const override { return "conv"; }
  const Conv2dParams& params() const { return p_; }

 private:
  // forward() and backward-data pick one of two implementations: the
  // direct kernels of engine/direct_conv.h (no im2col) for the geometries
  // they fit ("same"-padded convolutions, strided or not), or im2col + sgemm.
  // backward_weight uses engine/conv_weight_grad.h for every geometry.
  void forward_direct(const float* x, const float* w, const float* b, float* y);
  void forward_im2col(const float* x, const float* w, const float* b, float* y);
  void backward_data_direct();   // dx += W^T dy, one direct product per input phase
  void backward_data_im2col();   // dx += col2im(W^T dy)
  // dw += dy col^T: per-thread partials over the thread's images, then
  // summed in thread order. db += sum of dy per channel.
  void backward_weight();
  void backward_bias();
  void sum_weight_partials();

  // Images per block: the im2col path puts a block's columns side by side
  // for one wider GEMM; the direct path puts small images side by side so
  // that a plane fills whole 16-lane vectors. Block k holds images
  // [k*B, min(N, (k+1)*B)).
  int64_t im2col_block_images() const;
  int64_t direct_block_images() const;
  void update_direct_plans();
  void size_workspaces(int64_t col_floats, int64_t mat_floats, int64_t dw_floats);

  Conv2dParams p_;
  // Cached by forward for backward: the inputs (backward re-reads x rather
  // than keeping every image's im2col columns, which would cost K*OH*OW
  // floats per image), the geometry and the batch size.
  Var* x_ = nullptr;
  Var* w_ = nullptr;
  Var* b_ = nullptr;
  ConvGeom geom_{};  // one image: (IC, H, W) -> (OH, OW)
  int64_t N_ = 0;
  bool direct_ = false;       // the direct kernels exist and fit geom_
  int64_t direct_block_ = 1;  // images side by side in a direct-path plane
  // Tap offsets and padding masks for geom_ and direct_block_, rebuilt when
  // either changes: the forward plan, and one backward-data plan per input
  // phase with the kernel taps it uses.
  ConvGeom plan_geom_{};
  int64_t plan_block_ = 0;
  DirectConvPlan forward_plan_;
  std::vector<DirectConvPlan> backward_plans_;
  std::vector<std::vector<int64_t>> backward_taps_;
  std::vector<int64_t> packed_offset_;  // (phases*G + 1): backward-data's A' blocks in packed_
  Tensor packed_;  // W packed for the direct kernel of the current pass

  // One workspace per thread slot, sized on first use and reused.
  struct Workspace {
    Tensor col;  // im2col columns (K, B*P); or a block of x planes (IC, B*H*W) or padded (B, IC, Hp, Wp)
    Tensor mat;  // a block of outputs or dy, (OC, B*P); or dy transposed (B, P, OC)
    Tensor dw;   // (G, Kg, OCg): this thread's partial weight gradient, transposed per group
  };
  std::vector<Workspace> ws_;
};

// Reference loops (direct, 7 deep, accumulated in double), for tests.
// x (N, IC, H, W), w (OC, IC/groups, KH, KW), b (OC) or nullptr,
// y / dy (N, OC, OH, OW).
void conv2d_forward_ref(const Conv2dParams& p, int64_t N, int64_t H, int64_t W, const float* x,
                        const float* w, const float* b, float* y);
// dx (N, IC, H, W) += d(sum dy*y)/dx
void conv2d_backward_data_ref(const Conv2dParams& p, int64_t N, int64_t H, int64_t W,
                              const float* dy, const float* w, float* dx);
// dw (OC, IC/groups, KH, KW) += ..., db (OC) += ... (db may be nullptr)
void conv2d_backward_weight_ref(const Conv2dParams& p, int64_t N, int64_t H, int64_t W,
                                const float* x, const float* dy, float* dw, float* db);

}  // namespace taper
