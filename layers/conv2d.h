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
// Fast path: im2col + SGEMM (engine/im2col.h, engine/gemm.h), OpenMP-parallel
// over blocks of images, one workspace per thread that is reused every step.
// Small images are batched: several images' columns form one wider GEMM.
#pragma once

#include <vector>

#include "engine/autograd.h"
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
  // dx += col2im(W^T dy), per image block.
  void backward_data();
  // dw += dy col^T (per-thread partials summed in thread order); db += sum dy.
  void backward_weight();
  void backward_bias();

  struct Workspace;
  // Images per GEMM block B: enough for a wide GEMM, few enough that every
  // thread gets work. Block k holds images [k*B, min(N, (k+1)*B)).
  int64_t block_images() const;
  void size_workspaces(int64_t B, bool need_dw);
  const float* block_columns(const float* x, int64_t n0, int64_t nb, Workspace& ws) const;
  const float* block_dy(const float* dy, int64_t n0, int64_t nb, Workspace& ws) const;

  Conv2dParams p_;
  // Cached by forward for backward: the inputs (backward re-runs im2col on
  // x rather than keeping every image's columns, which would cost K*OH*OW
  // floats per image), the geometry and the batch size.
  Var* x_ = nullptr;
  Var* w_ = nullptr;
  Var* b_ = nullptr;
  ConvGeom geom_{};  // one image: (IC, H, W) -> (OH, OW)
  int64_t N_ = 0;

  // One workspace per thread slot, sized on the first step and reused.
  struct Workspace {
    Tensor col;  // (IC*KH*KW, B*OH*OW): im2col of a block of B images, or dcol
    Tensor mat;  // (OC, B*OH*OW): the block's output or its dy, columns side by side
    Tensor dw;   // (OC, IC/groups*KH*KW): this thread's partial weight gradient
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
