#include "engine/direct_conv.h"
#include "engine/parallel.h"

#include <algorithm>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace taper {

namespace {

// Floor division and its remainder for a possibly negative numerator.
int64_t floor_div(int64_t a, int64_t s) { return a >= 0 ? a / s : -((-a + s - 1) / s); }
int64_t floor_mod(int64_t a, int64_t s) { return a - floor_div(a, s) * s; }

// Rows (or columns) of phase a of an axis of length n at stride s: the i with s*i + a < n.
int64_t phase_len(int64_t n, int64_t a, int64_t s) { return n > a ? (n - a + s - 1) / s : 0; }

// The plan's pixel-count fields, for P pixels.
DirectConvPlan empty_plan(int64_t P) {
  DirectConvPlan plan;
  plan.P = P;
  plan.PV = (P + 15) / 16;
  plan.tail.assign(plan.PV, 0);
  for (int64_t q = 0; q < P; ++q) plan.tail[q / 16] |= uint16_t(1u << (q % 16));
  return plan;
}

// Appends a tap that reads (oh + dh, ow + dw) of a source plane and is live
// where that cell is inside [0, rows) x [0, cols).
void add_tap(DirectConvPlan& plan, const ConvGeom& g, int64_t base, int64_t dh, int64_t dw,
             int64_t rows, int64_t cols) {
  plan.tap_off.push_back(base + dh * g.OW + dw);
  const size_t first = plan.tap_mask.size();
  plan.tap_mask.resize(first + plan.PV, 0);
  const int64_t grid = g.OH * g.OW;
  for (int64_t q = 0; q < plan.P; ++q) {
    const int64_t p = q % grid;  // pixel within its image
    const int64_t i = p / g.OW + dh, j = p % g.OW + dw;
    if (i >= 0 && i < rows && j >= 0 && j < cols) plan.tap_mask[first + q / 16] |= uint16_t(1u << (q % 16));
  }
}

}  // namespace

bool direct_conv_fits(const ConvGeom& g) {
  for (int64_t kh = 0; kh < g.KH; ++kh)
    if (phase_len(g.H, floor_mod(kh - g.PH, g.SH), g.SH) > g.OH) return false;
  for (int64_t kw = 0; kw < g.KW; ++kw)
    if (phase_len(g.W, floor_mod(kw - g.PW, g.SW), g.SW) > g.OW) return false;
  return true;
}

bool direct_input_is_phase_plane(const ConvGeom& g) {
  return g.SH == 1 && g.SW == 1 && g.OH == g.H && g.OW == g.W;
}

DirectConvPlan direct_forward_plan(const ConvGeom& g, int64_t B) {
  const int64_t P = B * g.OH * g.OW, phases = g.SH * g.SW;
  DirectConvPlan plan = empty_plan(P);
  plan.channel_stride = phases * P;
  for (int64_t kh = 0; kh < g.KH; ++kh)
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const int64_t a = floor_mod(kh - g.PH, g.SH), b = floor_mod(kw - g.PW, g.SW);
      add_tap(plan, g, (a * g.SW + b) * P, floor_div(kh - g.PH, g.SH), floor_div(kw - g.PW, g.SW),
              phase_len(g.H, a, g.SH), phase_len(g.W, b, g.SW));
    }
  return plan;
}

DirectConvPlan direct_backward_plan(const ConvGeom& g, int64_t B, int64_t phase,
                                    std::vector<int64_t>& taps) {
  DirectConvPlan plan = empty_plan(B * g.OH * g.OW);
  plan.channel_stride = plan.P;
  taps.clear();
  for (int64_t kh = 0; kh < g.KH; ++kh)
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const int64_t a = floor_mod(kh - g.PH, g.SH), b = floor_mod(kw - g.PW, g.SW);
      if (a * g.SW + b != phase) continue;
      // dx phase cell (i, j) took part in output (i - dh, j - dw) through this tap.
      taps.push_back(kh * g.KW + kw);
      add_tap(plan, g, 0, -floor_div(kh - g.PH, g.SH), -floor_div(kw - g.PW, g.SW), g.OH, g.OW);
    }
  return plan;
}

// out[j] = src[2*j] for j < n: one column phase of a stride-2 row.
void take_every_second(const float* src, int64_t n, float* out) {
  int64_t j = 0;
#ifdef __AVX512F__
  // 16 outputs from the 31 inputs src[2j .. 2j + 30] (no read past them).
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (; j + 16 <= n; j += 16) {
    const __m512 lo = _mm512_loadu_ps(src + 2 * j);
    const __m512 hi = _mm512_maskz_loadu_ps(0x7FFF, src + 2 * j + 16);
    _mm512_storeu_ps(out + j, _mm512_permutex2var_ps(lo, even, hi));
  }
#endif
  for (; j < n; ++j) out[j] = src[2 * j];
}

// out[2*j] += in[j] for j < n: the inverse of take_every_second, adding.
void add_every_second(const float* in, int64_t n, float* out) {
  int64_t j = 0;
#ifdef __AVX512F__
  // in[j .. j+15] spread to the even lanes of the 31 outputs out[2j .. 2j + 30].
  const __m512i lo_idx = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const __m512i hi_idx = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  for (; j + 16 <= n; j += 16) {
    const __m512 v = _mm512_loadu_ps(in + j);
    __m512 lo = _mm512_loadu_ps(out + 2 * j);
    __m512 hi = _mm512_maskz_loadu_ps(0x7FFF, out + 2 * j + 16);
    lo = _mm512_mask_add_ps(lo, 0x5555, lo, _mm512_permutexvar_ps(lo_idx, v));
    hi = _mm512_mask_add_ps(hi, 0x5555, hi, _mm512_permutexvar_ps(hi_idx, v));
    _mm512_storeu_ps(out + 2 * j, lo);
    _mm512_mask_storeu_ps(out + 2 * j + 16, 0x7FFF, hi);
  }
#endif
  for (; j < n; ++j) out[2 * j] += in[j];
}

// Whether some tap reads phase a along an axis (1x1 stride 2 reads only phase 0).
bool phase_read(int64_t a, int64_t K, int64_t S, int64_t pad) {
  for (int64_t k = 0; k < K; ++k)
    if (floor_mod(k - pad, S) == a) return true;
  return false;
}

void split_phases(const ConvGeom& g, const float* x, int64_t n0, int64_t count, int64_t B,
                  float* dst) {
  const int64_t grid = g.OH * g.OW, P = B * grid, phases = g.SH * g.SW;
  if (direct_input_is_phase_plane(g)) {  // one phase: the planes themselves
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t n = 0; n < count; ++n)
        std::copy_n(x + ((n0 + n) * g.C + c) * grid, grid, dst + c * P + n * grid);
    return;
  }
  if (direct_input_is_phase_plane(g)) {  // one phase, the planes themselves
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t n = 0; n < count; ++n)
        std::copy_n(x + ((n0 + n) * g.C + c) * grid, grid, dst + c * P + n * grid);
    return;
  }
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t a = 0; a < g.SH; ++a)
      for (int64_t b = 0; b < g.SW; ++b) {
        if (!phase_read(a, g.KH, g.SH, g.PH) || !phase_read(b, g.KW, g.SW, g.PW)) continue;
        const int64_t rows = phase_len(g.H, a, g.SH), cols = phase_len(g.W, b, g.SW);
        float* plane = dst + (c * phases + a * g.SW + b) * P;
        for (int64_t n = 0; n < count; ++n) {
          const float* img = x + ((n0 + n) * g.C + c) * g.H * g.W;
          for (int64_t i = 0; i < rows; ++i) {
            const float* src = img + (g.SH * i + a) * g.W + b;
            float* out = plane + n * grid + i * g.OW;
            if (g.SW == 1) {
              std::copy_n(src, cols, out);
            } else if (g.SW == 2) {
              take_every_second(src, cols, out);
            } else {
              for (int64_t j = 0; j < cols; ++j) out[j] = src[g.SW * j];
            }
          }
        }
      }
}

void merge_phase_add(const ConvGeom& g, const float* src, int64_t phase, int64_t n0,
                     int64_t count, int64_t B, float* dx) {
  const int64_t grid = g.OH * g.OW, P = B * grid, a = phase / g.SW, b = phase % g.SW;
  const int64_t rows = phase_len(g.H, a, g.SH), cols = phase_len(g.W, b, g.SW);
  for (int64_t n = 0; n < count; ++n)
    for (int64_t c = 0; c < g.C; ++c) {
      float* img = dx + ((n0 + n) * g.C + c) * g.H * g.W;
      for (int64_t i = 0; i < rows; ++i) {
        const float* in = src + c * P + n * grid + i * g.OW;
        float* out = img + (g.SH * i + a) * g.W + b;
        if (g.SW == 1) {
          for (int64_t j = 0; j < cols; ++j) out[j] += in[j];
        } else if (g.SW == 2) {
          add_every_second(in, cols, out);
        } else {
          for (int64_t j = 0; j < cols; ++j) out[g.SW * j] += in[j];
        }
      }
    }
}

void pack_a(const float* a, int64_t lda, int64_t M, int64_t K, float* packed) {
  const int64_t panels = (M + kPanelRows - 1) / kPanelRows;
  parallel_for(panels, true, [&](int64_t i) {
    const int64_t m0 = i * kPanelRows;
    float* panel = packed + m0 * K;  // (K, kPanelRows)
    const int64_t rows = std::min(kPanelRows, M - m0);
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t r = 0; r < rows; ++r) panel[k * kPanelRows + r] = a[(m0 + r) * lda + k];
      for (int64_t r = rows; r < kPanelRows; ++r) panel[k * kPanelRows + r] = 0.0f;
    }
  });
}

void pack_a_transposed(const float* w, int64_t M_out, int64_t C, int64_t T,
                       const std::vector<int64_t>& taps, float* packed) {
  const int64_t TT = static_cast<int64_t>(taps.size()), K = M_out * TT;  // A' is (C, M_out*TT)
  const int64_t panels = (C + kPanelRows - 1) / kPanelRows;
  parallel_for(panels, true, [&](int64_t i) {
    const int64_t c0 = i * kPanelRows;
    float* panel = packed + c0 * K;
    const int64_t rows = std::min(kPanelRows, C - c0);
    for (int64_t o = 0; o < M_out; ++o)
      for (int64_t j = 0; j < TT; ++j) {
        float* dst = panel + (o * TT + j) * kPanelRows;
        for (int64_t r = 0; r < rows; ++r) dst[r] = w[(o * C + c0 + r) * T + taps[j]];
        for (int64_t r = rows; r < kPanelRows; ++r) dst[r] = 0.0f;
      }
  });
}

void direct_conv_forward_ref(const DirectConvPlan& plan, const float* a_packed, int64_t M,
                             int64_t C, const float* src, const float* bias, bool accumulate,
                             float* y) {
  const int64_t T = plan.taps(), K = C * T;
  for (int64_t m = 0; m < M; ++m) {
    // Row m of A lives in panel m / kPanelRows, column m % kPanelRows.
    const float* a = a_packed + (m / kPanelRows) * kPanelRows * K + m % kPanelRows;
    for (int64_t q = 0; q < plan.P; ++q) {
      double acc = bias ? bias[m] : 0.0;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t t = 0; t < T; ++t) {
          const bool live = (plan.tap_mask[t * plan.PV + q / 16] >> (q % 16)) & 1;
          if (live)
            acc += double(a[(c * T + t) * kPanelRows]) * src[c * plan.channel_stride + q + plan.tap_off[t]];
        }
      float& out = y[m * plan.P + q];
      out = static_cast<float>(accumulate ? out + acc : acc);
    }
  }
}

#ifdef __AVX512F__

bool direct_conv_available() { return true; }

namespace {

// One register tile of the forward product: MR rows (MR <= kPanelRows) by
// NV 16-pixel vectors starting at vector v0, summed over all K = C*T.
template <int MR, int NV>
void forward_tile(const DirectConvPlan& plan, const float* panel, int64_t C, const float* src,
                  int64_t v0, const float* bias, bool accumulate, float* y) {
  // The plan's fields as locals, so the loops below touch no plan memory
  // but the offset and mask tables.
  const int64_t T = plan.taps(), P = plan.P, PV = plan.PV, stride = plan.channel_stride;
  const int64_t* tap_off = plan.tap_off.data();
  const uint16_t* tap_mask = plan.tap_mask.data() + v0;
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  const float* a = panel;  // (K, kPanelRows), walked row by row
  for (int64_t c = 0; c < C; ++c) {
    const float* plane = src + c * stride + v0 * 16;
    const uint16_t* m = tap_mask;
    for (int64_t t = 0; t < T; ++t, a += kPanelRows, m += PV) {
      const float* s = plane + tap_off[t];
      __m512 b[NV];
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) b[v] = _mm512_maskz_loadu_ps(m[v], s + 16 * v);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const __m512 ar = _mm512_set1_ps(a[r]);
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, b[v], acc[r][v]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    float* row = y + r * P + v0 * 16;
    const __m512 add = _mm512_set1_ps(bias ? bias[r] : 0.0f);
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      const __mmask16 live = plan.tail[v0 + v];
      __m512 out = _mm512_add_ps(acc[r][v], add);
      if (accumulate) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(live, row + 16 * v));
      _mm512_mask_storeu_ps(row + 16 * v, live, out);
    }
  }
}

using ForwardTile = void (*)(const DirectConvPlan&, const float*, int64_t, const float*, int64_t,
                             const float*, bool, float*);

constexpr int kForwardNV = 3;  // vectors per forward tile (48 pixels)

template <int MR>
ForwardTile forward_tile_for(int nv) {
  switch (nv) {
    case 1: return forward_tile<MR, 1>;
    case 2: return forward_tile<MR, 2>;
    default: return forward_tile<MR, 3>;
  }
}

ForwardTile pick_forward_tile(int64_t mr, int nv) {
  switch (mr) {
    case 1: return forward_tile_for<1>(nv);
    case 2: return forward_tile_for<2>(nv);
    case 3: return forward_tile_for<3>(nv);
    case 4: return forward_tile_for<4>(nv);
    case 5: return forward_tile_for<5>(nv);
    case 6: return forward_tile_for<6>(nv);
    case 7: return forward_tile_for<7>(nv);
    default: return forward_tile_for<8>(nv);
  }
}

}  // namespace

void direct_conv_forward(const DirectConvPlan& plan, const float* a_packed, int64_t M, int64_t C,
                         const float* src, const float* bias, bool accumulate, float* y) {
  const int64_t K = C * plan.taps();
  // Row panels outer (one panel of A, 8 x K, stays in L1/L2), pixel tiles inner.
  for (int64_t m0 = 0; m0 < M; m0 += kPanelRows) {
    const int64_t mr = std::min(kPanelRows, M - m0);
    const float* panel = a_packed + m0 * K;
    for (int64_t v0 = 0; v0 < plan.PV; v0 += kForwardNV) {
      const int nv = static_cast<int>(std::min<int64_t>(kForwardNV, plan.PV - v0));
      pick_forward_tile(mr, nv)(plan, panel, C, src, v0, bias ? bias + m0 : nullptr, accumulate,
                                y + m0 * plan.P);
    }
  }
}

#else  // no AVX-512: Conv2d takes the im2col path; the plain loops stand in.

bool direct_conv_available() { return false; }
void direct_conv_forward(const DirectConvPlan& plan, const float* a_packed, int64_t M, int64_t C,
                         const float* src, const float* bias, bool accumulate, float* y) {
  direct_conv_forward_ref(plan, a_packed, M, C, src, bias, accumulate, y);
}

#endif

}  // namespace taper
