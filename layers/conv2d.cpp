#include "layers/conv2d.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/gemm.h"
#include "engine/parallel.h"

namespace taper {

namespace {

// A GEMM whose output has fewer columns than this runs below Eigen's best
// rate, so images with fewer output pixels are batched side by side until
// the block's matrix is at least this wide (7x7 and 8x8 maps, mostly).
constexpr int64_t kMinGemmCols = 256;

// A 1x1, stride-1, unpadded convolution: an image is already its own col.
bool is_pointwise(const ConvGeom& g) {
  return g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PH == 0 && g.PW == 0;
}

}  // namespace

int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  check(stride >= 1, "conv: stride must be at least 1, got ", stride);
  const int64_t span = in + 2 * pad - kernel;
  check(in >= 1 && span >= 0, "conv: kernel ", kernel, " does not fit input size ", in,
        " with padding ", pad, " (expected input + 2*padding >= kernel)");
  return span / stride + 1;
}

Conv2d::Conv2d(const Conv2dParams& p) : p_(p) {
  check(p.in_channels >= 1 && p.out_channels >= 1, "conv: channel counts must be positive, got in ",
        p.in_channels, " out ", p.out_channels);
  check(p.kernel_h >= 1 && p.kernel_w >= 1, "conv: kernel must be positive, got ", p.kernel_h,
        "x", p.kernel_w);
  check(p.stride_h >= 1 && p.stride_w >= 1, "conv: stride must be positive, got ", p.stride_h,
        "x", p.stride_w);
  check(p.pad_h >= 0 && p.pad_w >= 0, "conv: padding must be >= 0, got ", p.pad_h, "x", p.pad_w);
  check(p.groups >= 1 && p.in_channels % p.groups == 0 && p.out_channels % p.groups == 0,
        "conv: in_channels ", p.in_channels, " and out_channels ", p.out_channels,
        " must both be divisible by groups ", p.groups);
}

int64_t Conv2d::block_images() const {
  const int64_t P = geom_.OH * geom_.OW;
  const int64_t wide = (kMinGemmCols + P - 1) / P;
  const int64_t per_thread = (N_ + num_threads() - 1) / num_threads();  // keep all threads busy
  return std::max<int64_t>(1, std::min(wide, per_thread));
}

// Sizes one workspace per thread slot; allocates only when a buffer grows.
void Conv2d::size_workspaces(int64_t B, bool need_dw) {
  const int64_t P = geom_.OH * geom_.OW, K = geom_.col_rows();
  ws_.resize(num_threads());
  for (Workspace& ws : ws_) {
    if (B > 1 || !is_pointwise(geom_)) ws.col.resize({K, B * P});
    if (B > 1) ws.mat.resize({p_.out_channels, B * P});
    if (need_dw) ws.dw.resize({p_.out_channels, K / p_.groups});
  }
}

// The block's columns (K, nb*P) for images [n0, n0 + nb): im2col of each
// image side by side in ws.col, or x itself for one pointwise image.
const float* Conv2d::block_columns(const float* x, int64_t n0, int64_t nb, Workspace& ws) const {
  const int64_t P = geom_.OH * geom_.OW, image = geom_.C * geom_.H * geom_.W;
  if (nb == 1 && is_pointwise(geom_)) return x + n0 * image;
  for (int64_t i = 0; i < nb; ++i) im2col(geom_, x + (n0 + i) * image, ws.col.data() + i * P, nb * P);
  return ws.col.data();
}

// The block's dy as one (OC, nb*P) matrix: dy itself for one image, else its
// images' (OC, P) slices copied side by side into ws.mat.
const float* Conv2d::block_dy(const float* dy, int64_t n0, int64_t nb, Workspace& ws) const {
  const int64_t P = geom_.OH * geom_.OW, OC = p_.out_channels;
  if (nb == 1) return dy + n0 * OC * P;
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t o = 0; o < OC; ++o)
      std::copy_n(dy + ((n0 + i) * OC + o) * P, P, ws.mat.data() + o * nb * P + i * P);
  return ws.mat.data();
}

// Forward, per block of nb images with columns col (K, nb*P), per group g:
//   Y_g (OCg, nb*P) = W_g (OCg, Kg) * col_g (Kg, nb*P),  Kg = ICg*KH*KW
// then Y is scattered to y (N, OC, P) with the bias added.
Var& Conv2d::forward(Var& x, Var& w, Var* b, Tape& tape) {
  const int64_t IC = p_.in_channels, OC = p_.out_channels, G = p_.groups;
  check(x.data.ndim() == 4 && x.data.dim(1) == IC, "conv: input ", shape_str(x.data.shape()),
        " does not fit ", IC, " input channels (expected (N, ", IC, ", H, W))");
  const Shape wshape{OC, IC / G, p_.kernel_h, p_.kernel_w};
  check(w.data.shape() == wshape, "conv: weight ", shape_str(w.data.shape()), " expected ",
        shape_str(wshape), " (OC, IC/groups, KH, KW)");
  check(!b || b->data.shape() == Shape{OC}, "conv: bias ", b ? shape_str(b->data.shape()) : "",
        " expected (", OC, ")");
  const int64_t H = x.data.dim(2), W = x.data.dim(3);
  const int64_t OH = conv_out_size(H, p_.kernel_h, p_.stride_h, p_.pad_h);
  const int64_t OW = conv_out_size(W, p_.kernel_w, p_.stride_w, p_.pad_w);
  N_ = x.data.dim(0);
  geom_ = {IC, H, W, p_.kernel_h, p_.kernel_w, p_.stride_h, p_.stride_w, p_.pad_h, p_.pad_w, OH, OW};
  out.data.resize({N_, OC, OH, OW});  // (N, OC, OH, OW)

  const int64_t P = OH * OW, Kg = geom_.col_rows() / G, OCg = OC / G;
  const int64_t B = block_images(), blocks = (N_ + B - 1) / B;
  size_workspaces(B, false);
  const float* xd = x.data.data();
  const float* wd = w.data.data();  // (OC, Kg) row-major
  const float* bd = b ? b->data.data() : nullptr;
  float* yd = out.data.data();
  const int T = static_cast<int>(ws_.size());
#pragma omp parallel for schedule(static)
  for (int t = 0; t < T; ++t) {
    Workspace& ws = ws_[t];
    int64_t first, last;
    split_range(blocks, T, t, first, last);
    for (int64_t blk = first; blk < last; ++blk) {
      const int64_t n0 = blk * B, nb = std::min(B, N_ - n0), ld = nb * P;
      const float* col = block_columns(xd, n0, nb, ws);  // (K, nb*P)
      float* ymat = nb == 1 ? yd + n0 * OC * P : ws.mat.data();  // (OC, nb*P)
      for (int64_t g = 0; g < G; ++g)
        sgemm(false, false, OCg, ld, Kg, 1.0f, wd + g * OCg * Kg, Kg, col + g * Kg * ld, ld, 0.0f,
              ymat + g * OCg * ld, ld);
      for (int64_t i = 0; i < nb; ++i)
        for (int64_t o = 0; o < OC; ++o) {
          const float* src = ymat + o * ld + i * P;
          float* dst = yd + ((n0 + i) * OC + o) * P;
          const float bias = bd ? bd[o] : 0.0f;
          if (src != dst) {
            for (int64_t p = 0; p < P; ++p) dst[p] = src[p] + bias;
          } else if (bd) {
            for (int64_t p = 0; p < P; ++p) dst[p] += bias;
          }
        }
    }
  }
  x_ = &x, w_ = &w, b_ = b;
  record(tape, {&x, &w, b});
  return out;
}

// Backward, with dy = dL/dy (N, OC, OH, OW) and col = im2col(x), per group g:
//   dx   += col2im(W_g^T (Kg, OCg) * dy_g (OCg, P))      per image
//   dW_g += sum_n dy_g (OCg, P) * col_g^T (P, Kg)
//   db   += sum_{n, p} dy
void Conv2d::backward() {
  if (x_->requires_grad) backward_data();
  if (w_->requires_grad) backward_weight();
  if (b_ && b_->requires_grad) backward_bias();
}

void Conv2d::backward_data() {
  const int64_t OC = p_.out_channels, G = p_.groups, OCg = OC / G;
  const int64_t P = geom_.OH * geom_.OW, Kg = geom_.col_rows() / G, image = geom_.C * geom_.H * geom_.W;
  const int64_t B = block_images(), blocks = (N_ + B - 1) / B;
  size_workspaces(B, false);
  const float* dy = out.grad.data();
  const float* wd = w_->data.data();
  float* dx = x_->grad_buffer().data();  // (N, IC, H, W)
  const int T = static_cast<int>(ws_.size());
#pragma omp parallel for schedule(static)
  for (int t = 0; t < T; ++t) {
    Workspace& ws = ws_[t];
    int64_t first, last;
    split_range(blocks, T, t, first, last);
    for (int64_t blk = first; blk < last; ++blk) {
      const int64_t n0 = blk * B, nb = std::min(B, N_ - n0), ld = nb * P;
      const float* dymat = block_dy(dy, n0, nb, ws);  // (OC, nb*P)
      if (nb == 1 && is_pointwise(geom_)) {  // col2im is the identity: add straight into dx
        for (int64_t g = 0; g < G; ++g)
          sgemm(true, false, Kg, P, OCg, 1.0f, wd + g * OCg * Kg, Kg, dymat + g * OCg * P, P, 1.0f,
                dx + n0 * image + g * Kg * P, P);
        continue;
      }
      float* dcol = ws.col.data();  // (K, nb*P)
      for (int64_t g = 0; g < G; ++g)
        sgemm(true, false, Kg, ld, OCg, 1.0f, wd + g * OCg * Kg, Kg, dymat + g * OCg * ld, ld, 0.0f,
              dcol + g * Kg * ld, ld);
      for (int64_t i = 0; i < nb; ++i) col2im_add(geom_, dcol + i * P, ld, dx + (n0 + i) * image);
    }
  }
}

void Conv2d::backward_weight() {
  const int64_t OC = p_.out_channels, G = p_.groups, OCg = OC / G;
  const int64_t P = geom_.OH * geom_.OW, Kg = geom_.col_rows() / G;
  const int64_t B = block_images(), blocks = (N_ + B - 1) / B;
  size_workspaces(B, true);
  const float* xd = x_->data.data();
  const float* dy = out.grad.data();
  const int T = static_cast<int>(ws_.size());
  // Each thread slot sums its own images into its partial ws.dw (OC, Kg).
#pragma omp parallel for schedule(static)
  for (int t = 0; t < T; ++t) {
    Workspace& ws = ws_[t];
    int64_t first, last;
    split_range(blocks, T, t, first, last);
    if (first == last) ws.dw.zero();
    for (int64_t blk = first; blk < last; ++blk) {
      const int64_t n0 = blk * B, nb = std::min(B, N_ - n0), ld = nb * P;
      const float* col = block_columns(xd, n0, nb, ws);  // (K, nb*P)
      const float* dymat = block_dy(dy, n0, nb, ws);     // (OC, nb*P)
      const float beta = blk == first ? 0.0f : 1.0f;
      for (int64_t g = 0; g < G; ++g)
        sgemm(false, true, OCg, Kg, ld, 1.0f, dymat + g * OCg * ld, ld, col + g * Kg * ld, ld, beta,
              ws.dw.data() + g * OCg * Kg, Kg);
    }
  }
  // dW += partial_0 + partial_1 + ... in slot order; each thread owns a
  // slice of the elements, so the sum is the same whatever thread runs it.
  float* dw = w_->grad_buffer().data();
  const int64_t numel = OC * Kg;
#pragma omp parallel for schedule(static)
  for (int t = 0; t < T; ++t) {
    int64_t lo, hi;
    split_range(numel, T, t, lo, hi);
    for (int s = 0; s < T; ++s) {
      const float* part = ws_[s].dw.data();
      for (int64_t i = lo; i < hi; ++i) dw[i] += part[i];
    }
  }
}

void Conv2d::backward_bias() {
  const int64_t OC = p_.out_channels, P = geom_.OH * geom_.OW;
  const float* dy = out.grad.data();
  float* db = b_->grad_buffer().data();
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < OC; ++o) {
    float acc = 0.0f;
    for (int64_t n = 0; n < N_; ++n) acc += ConstVecMap(dy + (n * OC + o) * P, P).sum();
    db[o] += acc;
  }
}

// ---- Reference loops -------------------------------------------------------

void conv2d_forward_ref(const Conv2dParams& p, int64_t N, int64_t H, int64_t W, const float* x,
                        const float* w, const float* b, float* y) {
  const int64_t OH = conv_out_size(H, p.kernel_h, p.stride_h, p.pad_h);
  const int64_t OW = conv_out_size(W, p.kernel_w, p.stride_w, p.pad_w);
  const int64_t IC = p.in_channels, OC = p.out_channels;
  const int64_t ICg = IC / p.groups, OCg = OC / p.groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = b ? b[o] : 0.0;
          const int64_t c0 = (o / OCg) * ICg;  // first input channel of o's group
          for (int64_t c = 0; c < ICg; ++c)
            for (int64_t kh = 0; kh < p.kernel_h; ++kh)
              for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
                const int64_t ih = oh * p.stride_h - p.pad_h + kh, iw = ow * p.stride_w - p.pad_w + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += double(x[((n * IC + c0 + c) * H + ih) * W + iw]) *
                       w[((o * ICg + c) * p.kernel_h + kh) * p.kernel_w + kw];
              }
          y[((n * OC + o) * OH + oh) * OW + ow] = static_cast<float>(acc);
        }
}

void conv2d_backward_data_ref(const Conv2dParams& p, int64_t N, int64_t H, int64_t W,
                              const float* dy, const float* w, float* dx) {
  const int64_t OH = conv_out_size(H, p.kernel_h, p.stride_h, p.pad_h);
  const int64_t OW = conv_out_size(W, p.kernel_w, p.stride_w, p.pad_w);
  const int64_t IC = p.in_channels, OC = p.out_channels;
  const int64_t ICg = IC / p.groups, OCg = OC / p.groups;
  // dx[n, ic, ih, iw] = sum over the outputs whose window covered that pixel.
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ic = 0; ic < IC; ++ic)
      for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t iw = 0; iw < W; ++iw) {
          double acc = 0.0;
          const int64_t g = ic / ICg, c = ic % ICg;
          for (int64_t o = g * OCg; o < (g + 1) * OCg; ++o)
            for (int64_t kh = 0; kh < p.kernel_h; ++kh)
              for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
                const int64_t th = ih + p.pad_h - kh, tw = iw + p.pad_w - kw;  // = oh*SH, ow*SW
                if (th < 0 || tw < 0 || th % p.stride_h || tw % p.stride_w) continue;
                const int64_t oh = th / p.stride_h, ow = tw / p.stride_w;
                if (oh >= OH || ow >= OW) continue;
                acc += double(dy[((n * OC + o) * OH + oh) * OW + ow]) *
                       w[((o * ICg + c) * p.kernel_h + kh) * p.kernel_w + kw];
              }
          dx[((n * IC + ic) * H + ih) * W + iw] += static_cast<float>(acc);
        }
}

void conv2d_backward_weight_ref(const Conv2dParams& p, int64_t N, int64_t H, int64_t W,
                                const float* x, const float* dy, float* dw, float* db) {
  const int64_t OH = conv_out_size(H, p.kernel_h, p.stride_h, p.pad_h);
  const int64_t OW = conv_out_size(W, p.kernel_w, p.stride_w, p.pad_w);
  const int64_t IC = p.in_channels, OC = p.out_channels;
  const int64_t ICg = IC / p.groups, OCg = OC / p.groups;
  for (int64_t o = 0; o < OC; ++o) {
    const int64_t c0 = (o / OCg) * ICg;
    for (int64_t c = 0; c < ICg; ++c)
      for (int64_t kh = 0; kh < p.kernel_h; ++kh)
        for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
          double acc = 0.0;
          for (int64_t n = 0; n < N; ++n)
            for (int64_t oh = 0; oh < OH; ++oh)
              for (int64_t ow = 0; ow < OW; ++ow) {
                const int64_t ih = oh * p.stride_h - p.pad_h + kh, iw = ow * p.stride_w - p.pad_w + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += double(dy[((n * OC + o) * OH + oh) * OW + ow]) *
                       x[((n * IC + c0 + c) * H + ih) * W + iw];
              }
          dw[((o * ICg + c) * p.kernel_h + kh) * p.kernel_w + kw] += static_cast<float>(acc);
        }
    if (db) {
      double acc = 0.0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < OH * OW; ++i) acc += dy[(n * OC + o) * OH * OW + i];
      db[o] += static_cast<float>(acc);
    }
  }
}

}  // namespace taper
