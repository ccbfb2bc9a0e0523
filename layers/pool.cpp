#include "layers/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"
#include "engine/parallel.h"

namespace taper {

namespace {

// The window rules PyTorch enforces for max and average pooling.
void check_window(const char* name, int kernel, int stride, int padding) {
  check(kernel >= 1 && stride >= 1 && padding >= 0, name, ": kernel ", kernel, ", stride ", stride,
        ", padding ", padding, " (expected kernel >= 1, stride >= 1, padding >= 0)");
  check(padding <= kernel / 2, name, ": padding ", padding, " is more than half the kernel ",
        kernel, " (expected padding <= ", kernel / 2, ")");
}

struct PoolShape {
  int64_t N, C, H, W;  // input (N, C, H, W)
  int64_t OH, OW;      // output (N, C, OH, OW)
};

// Checks x and returns the output size (window_out_size, engine/shape.h).
PoolShape pool_shape(const char* name, const Tensor& x, int kernel, int stride, int padding) {
  check(x.ndim() == 4, name, ": input ", shape_str(x.shape()), " is not 4-d (expected (N, C, H, W))");
  PoolShape s{x.dim(0), x.dim(1), x.dim(2), x.dim(3), 0, 0};
  check(s.H >= 1 && s.W >= 1 && s.H + 2 * padding >= kernel && s.W + 2 * padding >= kernel, name,
        ": input ", shape_str(x.shape()), " is smaller than the ", kernel, "x", kernel,
        " window with padding ", padding, " (expected H, W >= ", std::max(1, kernel - 2 * padding),
        ")");
  check(s.H * s.W <= std::numeric_limits<int32_t>::max(), name, ": input plane ", s.H, "x", s.W,
        " is too large (expected H * W < 2^31)");
  s.OH = window_out_size(s.H, kernel, stride, padding);
  s.OW = window_out_size(s.W, kernel, stride, padding);
  return s;
}

// The input rows (or columns) [begin, end) that output row o's window covers,
// cut to the real input [0, size). With padding <= kernel / 2 the range is
// never empty.
inline void window(int64_t o, int kernel, int stride, int padding, int64_t size, int64_t& begin,
                   int64_t& end) {
  const int64_t start = o * stride - padding;
  begin = std::max<int64_t>(start, 0);
  end = std::min<int64_t>(start + kernel, size);
}

}  // namespace

// ---- MaxPool2d -------------------------------------------------------------

MaxPool2d::MaxPool2d(int kernel, int stride, int padding)
    : kernel_(kernel), stride_(stride), padding_(padding) {
  check_window("maxpool", kernel, stride, padding);
}

// y[oh, ow] = max of x[h, w] over the window's real cells (padding is -inf,
// so it never wins), scanned in row-major order.
void maxpool_plane_ref(const float* x, int64_t H, int64_t W, int kernel, int stride, int padding,
                       int64_t OH, int64_t OW, float* y, int32_t* argmax) {
  for (int64_t oh = 0; oh < OH; ++oh) {
    int64_t h0, h1;
    window(oh, kernel, stride, padding, H, h0, h1);
    for (int64_t ow = 0; ow < OW; ++ow) {
      int64_t w0, w1;
      window(ow, kernel, stride, padding, W, w0, w1);
      int64_t best_at = h0 * W + w0;
      float best = x[best_at];
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w)
          if (maxpool_takes(x[h * W + w], best)) best = x[h * W + w], best_at = h * W + w;
      y[oh * OW + ow] = best;
      if (argmax) argmax[oh * OW + ow] = static_cast<int32_t>(best_at);
    }
  }
}

// maxpool_plane_ref at kernel 2, stride 2, padding 0: the window of (oh, ow)
// is x[2oh .. 2oh+1, 2ow .. 2ow+1], taken in the same order with selects
// instead of branches (random data makes every compare a coin flip), and a
// row of outputs at a time in SIMD lanes.
template <bool kArgmax>
static void maxpool2x2_row(const float* __restrict r0, const float* __restrict r1, int32_t at0, int32_t W,
                           int64_t OW, float* __restrict y, int32_t* __restrict argmax) {
#pragma omp simd
  for (int64_t ow = 0; ow < OW; ++ow) {
    const int32_t at = at0 + static_cast<int32_t>(2 * ow);
    float best = r0[2 * ow];
    int32_t best_at = at;
    const float c1 = r0[2 * ow + 1], c2 = r1[2 * ow], c3 = r1[2 * ow + 1];
    bool take = maxpool_takes(c1, best);
    best = take ? c1 : best;
    best_at = take ? at + 1 : best_at;
    take = maxpool_takes(c2, best);
    best = take ? c2 : best;
    best_at = take ? at + W : best_at;
    take = maxpool_takes(c3, best);
    best = take ? c3 : best;
    best_at = take ? at + W + 1 : best_at;
    y[ow] = best;
    if constexpr (kArgmax) argmax[ow] = best_at;
  }
}

void maxpool2x2_plane(const float* x, int64_t H, int64_t W, float* y, int32_t* argmax) {
  const int64_t OH = H / 2, OW = W / 2;
  for (int64_t oh = 0; oh < OH; ++oh) {
    const float* r0 = x + 2 * oh * W;
    const int32_t at0 = static_cast<int32_t>(2 * oh * W);
    if (argmax)
      maxpool2x2_row<true>(r0, r0 + W, at0, static_cast<int32_t>(W), OW, y + oh * OW, argmax + oh * OW);
    else
      maxpool2x2_row<false>(r0, r0 + W, at0, static_cast<int32_t>(W), OW, y + oh * OW, nullptr);
  }
}

// Forward: each plane by maxpool_plane_ref, or its 2x2 fast path.
Var& MaxPool2d::forward(Var& x, Tape& tape) {
  const PoolShape s = pool_shape("maxpool", x.data, kernel_, stride_, padding_);
  const int64_t planes = s.N * s.C, in_plane = s.H * s.W, out_plane = s.OH * s.OW;
  out.data.resize({s.N, s.C, s.OH, s.OW});  // (N, C, OH, OW)
  const bool keep = will_record(tape, {&x});
  if (keep) argmax_.resize(planes * out_plane);  // (N, C, OH, OW)
  const float* xp = x.data.data();
  float* yp = out.data.data();
  int32_t* ap = keep ? argmax_.data() : nullptr;
  const bool two = kernel_ == 2 && stride_ == 2 && padding_ == 0;
  parallel_for(planes, x.data.numel() >= kMinParallelWork, [&](int64_t plane) {
    const float* xc = xp + plane * in_plane;
    float* yc = yp + plane * out_plane;
    int32_t* ac = ap ? ap + plane * out_plane : nullptr;
    if (two)
      maxpool2x2_plane(xc, s.H, s.W, yc, ac);
    else
      maxpool_plane_ref(xc, s.H, s.W, kernel_, stride_, padding_, s.OH, s.OW, yc, ac);
  });
  x_ = &x;
  record(tape, {&x});
  return out;
}

// Backward: dx[argmax(o)] += dy[o] for every output o; all other inputs get
// nothing. Windows overlap when stride < kernel, so one input can receive
// from several outputs; they are all in its plane, which one thread owns.
void MaxPool2d::backward() {
  if (!x_->requires_grad) return;
  const Tensor& x = x_->data;
  const int64_t planes = x.dim(0) * x.dim(1), in_plane = x.dim(2) * x.dim(3);
  const int64_t out_plane = out.data.dim(2) * out.data.dim(3);
  const float* dy = out.grad.data();
  const int32_t* ap = argmax_.data();
  float* dx = x_->grad_buffer().data();
  parallel_for(planes, x.numel() >= kMinParallelWork, [&](int64_t plane) {
    float* dxc = dx + plane * in_plane;
    for (int64_t o = plane * out_plane; o < (plane + 1) * out_plane; ++o) dxc[ap[o]] += dy[o];
  });
}

// ---- AvgPool2d -------------------------------------------------------------

AvgPool2d::AvgPool2d(int kernel, int stride, int padding)
    : kernel_(kernel), stride_(stride), padding_(padding) {
  check_window("avgpool", kernel, stride, padding);
}

// Forward: y[n, c, oh, ow] = (sum of x over the window's real cells) / kernel^2.
// Padded cells count as zeros in the divisor (count_include_pad = true).
Var& AvgPool2d::forward(Var& x, Tape& tape) {
  const PoolShape s = pool_shape("avgpool", x.data, kernel_, stride_, padding_);
  const int64_t planes = s.N * s.C, in_plane = s.H * s.W, out_plane = s.OH * s.OW;
  out.data.resize({s.N, s.C, s.OH, s.OW});  // (N, C, OH, OW)
  const float* xp = x.data.data();
  float* yp = out.data.data();
  const int k = kernel_, st = stride_, pad = padding_;
  const float inv_area = 1.0f / static_cast<float>(k * k);
  parallel_for(planes, x.data.numel() >= kMinParallelWork, [&](int64_t plane) {
    const float* xc = xp + plane * in_plane;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      int64_t h0, h1;
      window(oh, k, st, pad, s.H, h0, h1);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        int64_t w0, w1;
        window(ow, k, st, pad, s.W, w0, w1);
        float sum = 0.0f;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) sum += xc[h * s.W + w];
        yp[plane * out_plane + oh * s.OW + ow] = sum * inv_area;
      }
    }
  });
  x_ = &x;
  record(tape, {&x});
  return out;
}

// Backward: every real cell of output o's window gets dy[o] / kernel^2.
void AvgPool2d::backward() {
  if (!x_->requires_grad) return;
  const Tensor& x = x_->data;
  const int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t OH = out.data.dim(2), OW = out.data.dim(3);
  const float* dy = out.grad.data();
  float* dx = x_->grad_buffer().data();
  const int k = kernel_, st = stride_, pad = padding_;
  const float inv_area = 1.0f / static_cast<float>(k * k);
  parallel_for(planes, x.numel() >= kMinParallelWork, [&](int64_t plane) {
    float* dxc = dx + plane * H * W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      int64_t h0, h1;
      window(oh, k, st, pad, H, h0, h1);
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t w0, w1;
        window(ow, k, st, pad, W, w0, w1);
        const float g = dy[plane * OH * OW + oh * OW + ow] * inv_area;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) dxc[h * W + w] += g;
      }
    }
  });
}

// ---- GlobalAvgPool ---------------------------------------------------------

// Forward: y[n, c] = (1 / (H W)) sum_{h, w} x[n, c, h, w], summed in double.
Var& GlobalAvgPool::forward(Var& x, Tape& tape) {
  check(x.data.ndim() == 4 && x.data.dim(2) * x.data.dim(3) >= 1, "globalavgpool: input ",
        shape_str(x.data.shape()), " is not (N, C, H, W) with H, W >= 1");
  const int64_t N = x.data.dim(0), C = x.data.dim(1), HW = x.data.dim(2) * x.data.dim(3);
  out.data.resize({N, C});  // (N, C)
  const float* xp = x.data.data();
  float* yp = out.data.data();
  parallel_for(N * C, x.data.numel() >= kMinParallelWork, [&](int64_t plane) {
    double sum = 0.0;
    for (int64_t i = 0; i < HW; ++i) sum += xp[plane * HW + i];
    yp[plane] = static_cast<float>(sum / static_cast<double>(HW));
  });
  x_ = &x;
  record(tape, {&x});
  return out;
}

// Backward: dx[n, c, h, w] += dy[n, c] / (H W).
void GlobalAvgPool::backward() {
  if (!x_->requires_grad) return;
  const Tensor& x = x_->data;
  const int64_t planes = x.dim(0) * x.dim(1), HW = x.dim(2) * x.dim(3);
  const float* dy = out.grad.data();
  float* dx = x_->grad_buffer().data();
  const float inv_hw = 1.0f / static_cast<float>(HW);
  parallel_for(planes, x.numel() >= kMinParallelWork, [&](int64_t plane) {
    const float g = dy[plane] * inv_hw;
    for (int64_t i = 0; i < HW; ++i) dx[plane * HW + i] += g;
  });
}

}  // namespace taper
