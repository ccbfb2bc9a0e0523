#include "layers/conv2d.h"

#include <algorithm>

#include "engine/conv_weight_grad.h"
#include "engine/error.h"
#include "engine/gemm.h"
#include "engine/parallel.h"

namespace taper {

namespace {

// A GEMM whose output has fewer columns than this runs below Eigen's best
// rate, so on the im2col path images with fewer output pixels are batched
// side by side until the block's matrix is at least this wide.
constexpr int64_t kMinGemmCols = 256;

// Blocks of images are sized so that their planes take at most about this
// many floats (1 MB, the L2 of one Zen 4/5 core): the kernels then read a
// block from L2 for every tile they compute.
constexpr int64_t kBlockFloats = 256 * 1024;

// The buffer of t as raw scratch memory of at least n floats: grown (once)
// when too small, never shrunk, contents unspecified.
float* reserve(Tensor& t, int64_t n) {
  if (t.numel() < n) t.resize({n});
  return t.data();
}

bool same_geom(const ConvGeom& a, const ConvGeom& b) {
  return a.C == b.C && a.H == b.H && a.W == b.W && a.KH == b.KH && a.KW == b.KW && a.SH == b.SH &&
         a.SW == b.SW && a.PH == b.PH && a.PW == b.PW && a.OH == b.OH && a.OW == b.OW;
}

// The direct kernels read every input plane of an image at once, one
// stream per plane; from an image larger than this (128 KB) straight out
// of the batch tensor that is more streams than the hardware prefetchers
// follow, and the kernel waits on memory (64x28x28 ran at 3/4 speed). One
// sequential copy into the thread's workspace puts the image in L2 first.
constexpr int64_t kStreamFloats = 32 * 1024;

// A 1x1, stride-1, unpadded convolution: an image is already its own col.
bool is_pointwise(const ConvGeom& g) {
  return g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PH == 0 && g.PW == 0;
}

// dst (C, slots*P) <- images [n0, n0 + count) of src (N, C, P), side by side;
// slots beyond count are zero-filled.
void gather_images(const float* src, int64_t C, int64_t P, int64_t n0, int64_t count,
                   int64_t slots, float* dst) {
  for (int64_t c = 0; c < C; ++c) {
    float* row = dst + c * slots * P;
    for (int64_t i = 0; i < count; ++i) std::copy_n(src + ((n0 + i) * C + c) * P, P, row + i * P);
    std::fill(row + count * P, row + slots * P, 0.0f);
  }
}

// Images [n0, n0 + count) of dst (N, C, P) = src (C, slots*P) + bias (C or
// nullptr), or += src when `add`.
void scatter_images(const float* src, int64_t C, int64_t P, int64_t n0, int64_t count,
                    int64_t slots, const float* bias, bool add, float* dst) {
  for (int64_t i = 0; i < count; ++i)
    for (int64_t c = 0; c < C; ++c) {
      const float* s = src + c * slots * P + i * P;
      float* d = dst + ((n0 + i) * C + c) * P;
      const float b = bias ? bias[c] : 0.0f;
      if (add) {
        for (int64_t p = 0; p < P; ++p) d[p] += s[p];
      } else {
        for (int64_t p = 0; p < P; ++p) d[p] = s[p] + b;
      }
    }
}

// Runs body(slot, first_block, end_block) for every thread slot t < T, in
// parallel: slot t owns blocks split_range(blocks, T, t) and workspace t.
template <typename Body>
void for_each_slot(int T, int64_t blocks, const Body& body) {
  parallel_for(T, true, [&](int64_t t) {
    int64_t first, last;
    split_range(blocks, T, static_cast<int>(t), first, last);
    body(static_cast<int>(t), first, last);
  });
}

}  // namespace

int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  if (stride < 1) fail("conv: stride must be at least 1, got ", stride);
  const int64_t out = window_out_size(in, kernel, stride, pad);
  if (out < 1)
    fail("conv: kernel ", kernel, " does not fit input size ", in, " with padding ", pad,
         " (expected input + 2*padding >= kernel)");
  return out;
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

int64_t Conv2d::im2col_block_images() const {
  const int64_t P = geom_.OH * geom_.OW;
  const int64_t wide = (kMinGemmCols + P - 1) / P;
  const int64_t per_thread = (N_ + num_threads() - 1) / num_threads();  // keep all threads busy
  return std::max<int64_t>(1, std::min(wide, per_thread));
}

// The smallest number of images whose output pixels fill whole 16-lane
// vectors (7x7: 16 images, 14x14: 4), within the L2 budget and the
// thread's share.
int64_t Conv2d::direct_block_images() const {
  const int64_t P = geom_.OH * geom_.OW;
  int64_t B = 1;
  while ((B * P) % 16 != 0 && B < 16) ++B;
  const int64_t channels = std::max(p_.in_channels * geom_.SH * geom_.SW, p_.out_channels);
  while (B > 1 && B * P * channels > kBlockFloats) --B;
  const int64_t per_thread = (N_ + num_threads() - 1) / num_threads();
  return std::max<int64_t>(1, std::min(B, per_thread));
}

// Sizes one workspace per thread slot; allocates only when a buffer grows.
void Conv2d::size_workspaces(int64_t col_floats, int64_t mat_floats, int64_t dw_floats) {
  ws_.resize(num_threads());
  for (Workspace& ws : ws_) {
    reserve(ws.col, col_floats);
    reserve(ws.mat, mat_floats);
    reserve(ws.dw, dw_floats);
  }
}

Var& Conv2d::forward(Var& x, Var& w, Var* b, Tape& tape) {
  const int64_t IC = p_.in_channels, OC = p_.out_channels, G = p_.groups;
  // Shapes are read through shape() rather than dim(), and messages are
  // built only on failure: a warm forward allocates nothing.
  const Shape& xs = x.data.shape();
  const Shape& ws = w.data.shape();
  if (xs.size() != 4 || xs[1] != IC)
    fail("conv: input ", shape_str(xs), " does not fit ", IC, " input channels (expected (N, ", IC,
         ", H, W))");
  if (ws.size() != 4 || ws[0] != OC || ws[1] != IC / G || ws[2] != p_.kernel_h || ws[3] != p_.kernel_w)
    fail("conv: weight ", shape_str(ws), " expected ", shape_str({OC, IC / G, p_.kernel_h, p_.kernel_w}),
         " (OC, IC/groups, KH, KW)");
  if (b && (b->data.shape().size() != 1 || b->data.shape()[0] != OC))
    fail("conv: bias ", shape_str(b->data.shape()), " expected (", OC, ")");
  const int64_t H = xs[2], W = xs[3];
  const int64_t OH = conv_out_size(H, p_.kernel_h, p_.stride_h, p_.pad_h);
  const int64_t OW = conv_out_size(W, p_.kernel_w, p_.stride_w, p_.pad_w);
  N_ = xs[0];
  geom_ = {IC, H, W, p_.kernel_h, p_.kernel_w, p_.stride_h, p_.stride_w, p_.pad_h, p_.pad_w, OH, OW};
  direct_ = direct_conv_available() && direct_conv_fits(geom_);
  if (direct_) update_direct_plans();
  // (N, OC, OH, OW), resized only when it changes or was released
  const Shape& ys = out.data.shape();
  if (ys.size() != 4 || ys[0] != N_ || ys[1] != OC || ys[2] != OH || ys[3] != OW || !out.data.data())
    out.data.resize({N_, OC, OH, OW});
  const float* bd = b ? b->data.data() : nullptr;
  if (direct_) forward_direct(x.data.data(), w.data.data(), bd, out.data.data());
  else forward_im2col(x.data.data(), w.data.data(), bd, out.data.data());
  x_ = &x, w_ = &w, b_ = b;
  record(tape, {&x, &w, b});
  return out;
}

// Chooses the direct path's block size and rebuilds its plans when the
// geometry or the block size changed since the last forward.
void Conv2d::update_direct_plans() {
  direct_block_ = direct_block_images();
  if (same_geom(plan_geom_, geom_) && plan_block_ == direct_block_) return;
  plan_geom_ = geom_, plan_block_ = direct_block_;
  forward_plan_ = direct_forward_plan(geom_, direct_block_);
  const int64_t phases = geom_.SH * geom_.SW, G = p_.groups;
  backward_plans_.resize(phases);
  backward_taps_.resize(phases);
  for (int64_t ph = 0; ph < phases; ++ph)
    backward_plans_[ph] = direct_backward_plan(geom_, direct_block_, ph, backward_taps_[ph]);
  // Where backward-data's packed A' of (phase, group) starts in packed_.
  const int64_t ICg = p_.in_channels / G, OCg = p_.out_channels / G;
  packed_offset_.assign(phases * G + 1, 0);
  for (int64_t ph = 0; ph < phases; ++ph)
    for (int64_t g = 0; g < G; ++g)
      packed_offset_[ph * G + g + 1] = packed_offset_[ph * G + g] +
          packed_a_size(ICg, OCg * static_cast<int64_t>(backward_taps_[ph].size()));
}

// Forward, per image and group g (Kg = ICg*KH*KW, P = OH*OW):
//   y_g (OCg, P) = W_g (OCg, Kg) * col_g (Kg, P) + b_g
// where col_g is the im2col of the group's input channels. On the direct
// path a block of B images is split into phase planes (IC, SH*SW, B*P)
// (for a stride-1 "same" convolution of one image, x itself), convolved to
// (OC, B*P) and, when B > 1, scattered back to y.
void Conv2d::forward_direct(const float* x, const float* w, const float* b, float* y) {
  const int64_t G = p_.groups, IC = p_.in_channels, OC = p_.out_channels;
  const int64_t OCg = OC / G, ICg = IC / G, Kg = ICg * forward_plan_.taps();
  const int64_t image = IC * geom_.H * geom_.W, P = geom_.OH * geom_.OW, BP = forward_plan_.P;
  const int64_t panel = packed_a_size(OCg, Kg), stride = forward_plan_.channel_stride;
  reserve(packed_, G * panel);
  for (int64_t g = 0; g < G; ++g) pack_a(w + g * OCg * Kg, Kg, OCg, Kg, packed_.data() + g * panel);
  const float* a = packed_.data();
  const int64_t B = direct_block_, blocks = (N_ + B - 1) / B;
  const bool as_is = B == 1 && direct_input_is_phase_plane(geom_) && image <= kStreamFloats;
  size_workspaces(as_is ? 0 : IC * stride, B > 1 ? OC * BP : 0, 0);
  for_each_slot(static_cast<int>(ws_.size()), blocks, [&](int t, int64_t first, int64_t last) {
    Workspace& ws = ws_[t];
    for (int64_t blk = first; blk < last; ++blk) {
      const int64_t n0 = blk * B, nb = std::min(B, N_ - n0);
      const float* src = x + n0 * image;                   // (IC, phases, B*P)
      float* dst = B > 1 ? ws.mat.data() : y + n0 * OC * P;  // (OC, B*P)
      if (!as_is) {
        if (nb < B) std::fill_n(ws.col.data(), IC * stride, 0.0f);  // missing images read zeros
        split_phases(geom_, x, n0, nb, B, ws.col.data());
        src = ws.col.data();
      }
      for (int64_t g = 0; g < G; ++g)
        direct_conv_forward(forward_plan_, a + g * panel, OCg, ICg, src + g * ICg * stride,
                            b ? b + g * OCg : nullptr, false, dst + g * OCg * BP);
      if (B > 1) scatter_images(dst, OC, P, n0, nb, B, nullptr, false, y);
    }
  });
}

// The im2col path works on blocks of nb images whose columns sit side by
// side, col (K, nb*P): one GEMM per group gives Y (OC, nb*P), which is then
// scattered to y (N, OC, P) with the bias added.
void Conv2d::forward_im2col(const float* x, const float* w, const float* b, float* y) {
  const int64_t OC = p_.out_channels, G = p_.groups, OCg = OC / G;
  const int64_t P = geom_.OH * geom_.OW, K = geom_.col_rows(), Kg = K / G;
  const int64_t image = geom_.C * geom_.H * geom_.W;
  const int64_t B = im2col_block_images(), blocks = (N_ + B - 1) / B;
  size_workspaces(K * B * P, OC * B * P, 0);
  for_each_slot(static_cast<int>(ws_.size()), blocks, [&](int t, int64_t first, int64_t last) {
    Workspace& ws = ws_[t];
    for (int64_t blk = first; blk < last; ++blk) {
      const int64_t n0 = blk * B, nb = std::min(B, N_ - n0), ld = nb * P;
      const float* col = x + n0 * image;  // a pointwise image is its own col
      if (nb > 1 || !is_pointwise(geom_)) {
        for (int64_t i = 0; i < nb; ++i) im2col(geom_, x + (n0 + i) * image, ws.col.data() + i * P, ld);
        col = ws.col.data();  // (K, nb*P)
      }
      float* ymat = nb == 1 ? y + n0 * OC * P : ws.mat.data();  // (OC, nb*P)
      for (int64_t g = 0; g < G; ++g)
        sgemm(false, false, OCg, ld, Kg, 1.0f, w + g * OCg * Kg, Kg, col + g * Kg * ld, ld, 0.0f,
              ymat + g * OCg * ld, ld);
      if (nb > 1 || b) scatter_images(ymat, OC, P, n0, nb, nb, b, false, y);  // in place when nb == 1
    }
  });
}

// Backward, with dy = dL/dy (N, OC, OH, OW) and col = im2col(x), per group g:
//   dx   += col2im(W_g^T (Kg, OCg) * dy_g (OCg, P))      per image
//   dW_g += sum_n dy_g (OCg, P) * col_g^T (P, Kg)
//   db   += sum_{n, p} dy
void Conv2d::backward() {
  if (x_->requires_grad) {
    if (direct_) backward_data_direct();
    else backward_data_im2col();
  }
  if (w_->requires_grad) backward_weight();
  if (b_ && b_->requires_grad) backward_bias();
}

// dx += col2im(W^T dy), computed phase by phase of dx: input phase (a, b)
// receives dy through the taps of that phase, shifted the other way, so it
// is one direct product of the weights' transpose (restricted to those
// taps) with dy. For a stride-1 "same" convolution of one image there is one
// phase, dx itself, and the kernel adds into it directly.
void Conv2d::backward_data_direct() {
  const int64_t G = p_.groups, IC = p_.in_channels, OC = p_.out_channels;
  const int64_t OCg = OC / G, ICg = IC / G, T = geom_.KH * geom_.KW;
  const int64_t image = IC * geom_.H * geom_.W, P = geom_.OH * geom_.OW;
  const int64_t phases = geom_.SH * geom_.SW, B = direct_block_, BP = B * P;
  // Packed A' for every (phase, group), one after another.
  const std::vector<int64_t>& offset = packed_offset_;
  reserve(packed_, offset.back());
  const float* w = w_->data.data();
  for (int64_t ph = 0; ph < phases; ++ph)
    for (int64_t g = 0; g < G; ++g)
      pack_a_transposed(w + g * OCg * ICg * T, OCg, ICg, T, backward_taps_[ph],
                        packed_.data() + offset[ph * G + g]);
  const float* a = packed_.data();
  const float* dy = out.grad.data();
  float* dx = x_->grad_buffer().data();  // (N, IC, H, W)
  const bool in_place = B == 1 && direct_input_is_phase_plane(geom_);
  const bool copy_dy = B > 1 || OC * P > kStreamFloats;
  const int64_t blocks = (N_ + B - 1) / B;
  size_workspaces(in_place ? 0 : IC * BP, copy_dy ? OC * BP : 0, 0);
  for_each_slot(static_cast<int>(ws_.size()), blocks, [&](int t, int64_t first, int64_t last) {
    Workspace& ws = ws_[t];
    for (int64_t blk = first; blk < last; ++blk) {
      const int64_t n0 = blk * B, nb = std::min(B, N_ - n0);
      const float* src = dy + n0 * OC * P;  // (OC, B*P)
      if (copy_dy) {
        gather_images(dy, OC, P, n0, nb, B, ws.mat.data());
        src = ws.mat.data();
      }
      for (int64_t ph = 0; ph < phases; ++ph) {
        if (backward_taps_[ph].empty()) continue;  // no tap reads this phase: its dx is 0
        float* dst = in_place ? dx + n0 * image : ws.col.data();  // (IC, B*P)
        for (int64_t g = 0; g < G; ++g)
          direct_conv_forward(backward_plans_[ph], a + offset[ph * G + g], ICg, OCg,
                              src + g * OCg * BP, nullptr, in_place, dst + g * ICg * BP);
        if (!in_place) merge_phase_add(geom_, dst, ph, n0, nb, B, dx);
      }
    }
  });
}

void Conv2d::backward_data_im2col() {
  const int64_t OC = p_.out_channels, G = p_.groups, OCg = OC / G;
  const int64_t P = geom_.OH * geom_.OW, K = geom_.col_rows(), Kg = K / G;
  const int64_t image = geom_.C * geom_.H * geom_.W;
  const int64_t B = im2col_block_images(), blocks = (N_ + B - 1) / B;
  size_workspaces(K * B * P, OC * B * P, 0);
  const float* dy = out.grad.data();
  const float* w = w_->data.data();
  float* dx = x_->grad_buffer().data();  // (N, IC, H, W)
  for_each_slot(static_cast<int>(ws_.size()), blocks, [&](int t, int64_t first, int64_t last) {
    Workspace& ws = ws_[t];
    for (int64_t blk = first; blk < last; ++blk) {
      const int64_t n0 = blk * B, nb = std::min(B, N_ - n0), ld = nb * P;
      const float* dymat = dy + n0 * OC * P;  // (OC, nb*P)
      if (nb > 1) {
        gather_images(dy, OC, P, n0, nb, nb, ws.mat.data());
        dymat = ws.mat.data();
      }
      if (nb == 1 && is_pointwise(geom_)) {  // col2im is the identity: add straight into dx
        for (int64_t g = 0; g < G; ++g)
          sgemm(true, false, Kg, P, OCg, 1.0f, w + g * OCg * Kg, Kg, dymat + g * OCg * P, P, 1.0f,
                dx + n0 * image + g * Kg * P, P);
        continue;
      }
      float* dcol = ws.col.data();  // (K, nb*P)
      for (int64_t g = 0; g < G; ++g)
        sgemm(true, false, Kg, ld, OCg, 1.0f, w + g * OCg * Kg, Kg, dymat + g * OCg * ld, ld, 0.0f,
              dcol + g * Kg * ld, ld);
      for (int64_t i = 0; i < nb; ++i) col2im_add(geom_, dcol + i * P, ld, dx + (n0 + i) * image);
    }
  });
}

// Each thread slot sums its own images into its partial ws.dw, which holds
// dW transposed per group, (G, Kg, OCg). With the kernel of
// engine/conv_weight_grad.h a block of images is zero-padded to
// (B, IC, Hp, Wp) (unless there is no padding) and dy transposed to
// (B, P, OC); without it, im2col
// columns and dy go through sgemm: dWT_g += col_g (Kg, nb*P) * dy_g^T.
void Conv2d::backward_weight() {
  const int64_t OC = p_.out_channels, IC = p_.in_channels, G = p_.groups;
  const int64_t OCg = OC / G, ICg = IC / G, P = geom_.OH * geom_.OW, Kg = geom_.col_rows() / G;
  const float* x = x_->data.data();
  const float* dy = out.grad.data();
  const int T = num_threads();
  if (conv_weight_grad_available()) {
    // Unpadded convolutions (1x1 stride 2, valid ones) read x as it is.
    const bool padded = geom_.PH > 0 || geom_.PW > 0;
    const int64_t Hp = geom_.H + 2 * geom_.PH, Wp = geom_.W + 2 * geom_.PW, image = IC * Hp * Wp;
    const int64_t per_image = (padded ? image : 0) + P * OC;
    const int64_t B = std::max<int64_t>(1, std::min(kBlockFloats / per_image, (N_ + T - 1) / T));
    const int64_t blocks = (N_ + B - 1) / B;
    const WeightGradGeom wg{ICg, geom_.KH, geom_.KW, geom_.SH, geom_.SW, Hp, Wp, geom_.OH, geom_.OW};
    size_workspaces(padded ? B * image : 0, B * P * OC, G * Kg * OCg);
    for_each_slot(T, blocks, [&](int t, int64_t first, int64_t last) {
      Workspace& ws = ws_[t];
      std::fill_n(ws.dw.data(), G * Kg * OCg, 0.0f);
      for (int64_t blk = first; blk < last; ++blk) {
        const int64_t n0 = blk * B, nb = std::min(B, N_ - n0);
        const float* xp = padded ? ws.col.data() : x + n0 * image;  // (nb, IC, Hp, Wp)
        for (int64_t i = 0; i < nb; ++i) {
          if (padded)
            pad_planes(x + (n0 + i) * IC * geom_.H * geom_.W, IC, geom_.H, geom_.W, geom_.PH,
                       geom_.PW, ws.col.data() + i * image);
          transpose_to_pixel_major(dy + (n0 + i) * OC * P, OC, P, ws.mat.data() + i * P * OC, OC);
        }
        for (int64_t g = 0; g < G; ++g)
          conv_weight_grad(wg, OCg, nb, xp + g * ICg * Hp * Wp, image, ws.mat.data() + g * OCg,
                           P * OC, OC, ws.dw.data() + g * Kg * OCg, OCg);
      }
    });
  } else {
    const int64_t B = im2col_block_images(), blocks = (N_ + B - 1) / B;
    const int64_t image = IC * geom_.H * geom_.W;
    size_workspaces(geom_.col_rows() * B * P, OC * B * P, G * Kg * OCg);
    for_each_slot(T, blocks, [&](int t, int64_t first, int64_t last) {
      Workspace& ws = ws_[t];
      std::fill_n(ws.dw.data(), G * Kg * OCg, 0.0f);
      for (int64_t blk = first; blk < last; ++blk) {
        const int64_t n0 = blk * B, nb = std::min(B, N_ - n0), ld = nb * P;
        for (int64_t i = 0; i < nb; ++i) im2col(geom_, x + (n0 + i) * image, ws.col.data() + i * P, ld);
        gather_images(dy, OC, P, n0, nb, nb, ws.mat.data());
        for (int64_t g = 0; g < G; ++g)
          sgemm(false, true, Kg, OCg, ld, 1.0f, ws.col.data() + g * Kg * ld, ld,
                ws.mat.data() + g * OCg * ld, ld, 1.0f, ws.dw.data() + g * Kg * OCg, OCg);
      }
    });
  }
  sum_weight_partials();
}

// dW += partial_0 + partial_1 + ... in slot order; each thread owns a range
// of dW's elements, so the sum is the same whatever thread runs it.
void Conv2d::sum_weight_partials() {
  const int64_t OC = p_.out_channels, G = p_.groups, OCg = OC / G, Kg = geom_.col_rows() / G;
  float* dw = w_->grad_buffer().data();  // (OC, Kg)
  const int T = static_cast<int>(ws_.size());
  for_each_slot(T, OC, [&](int, int64_t first, int64_t last) {
    for (int64_t o = first; o < last; ++o) {
      const int64_t g = o / OCg, j = o % OCg;
      for (int s = 0; s < T; ++s) {
        const float* part = ws_[s].dw.data() + g * Kg * OCg + j;  // column j of (Kg, OCg)
        for (int64_t k = 0; k < Kg; ++k) dw[o * Kg + k] += part[k * OCg];
      }
    }
  });
}

void Conv2d::backward_bias() {
  const int64_t OC = p_.out_channels, P = geom_.OH * geom_.OW;
  const float* dy = out.grad.data();
  float* db = b_->grad_buffer().data();
  parallel_for(OC, true, [&](int64_t o) {
    float acc = 0.0f;
    for (int64_t n = 0; n < N_; ++n) acc += ConstVecMap(dy + (n * OC + o) * P, P).sum();
    db[o] += acc;
  });
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
