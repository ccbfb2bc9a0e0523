#include "engine/direct_conv.h"

#include <algorithm>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace taper {

DirectConvPlan::DirectConvPlan(int64_t H_, int64_t W_, int64_t KH_, int64_t KW_, int64_t PH_,
                               int64_t PW_, int64_t B_)
    : H(H_), W(W_), KH(KH_), KW(KW_), PH(PH_), PW(PW_), B(B_), P(B_ * H_ * W_),
      PV((B_ * H_ * W_ + 15) / 16) {
  const int64_t T = KH * KW;
  tap_off.resize(T);
  tap_mask.assign(T * PV, 0);
  tail.assign(PV, 0);
  for (int64_t p = 0; p < P; ++p) tail[p / 16] |= uint16_t(1u << (p % 16));
  for (int64_t kh = 0; kh < KH; ++kh)
    for (int64_t kw = 0; kw < KW; ++kw) {
      const int64_t t = kh * KW + kw;
      tap_off[t] = (kh - PH) * W + (kw - PW);
      for (int64_t p = 0; p < P; ++p) {
        const int64_t q = p % (H * W);  // pixel within its image
        const int64_t ih = q / W + kh - PH, iw = q % W + kw - PW;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W) tap_mask[t * PV + p / 16] |= uint16_t(1u << (p % 16));
      }
    }
}

void pack_a(const float* a, int64_t lda, int64_t M, int64_t K, float* packed) {
  for (int64_t m0 = 0; m0 < M; m0 += kPanelRows) {
    float* panel = packed + m0 * K;  // (K, kPanelRows)
    const int64_t rows = std::min(kPanelRows, M - m0);
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t r = 0; r < rows; ++r) panel[k * kPanelRows + r] = a[(m0 + r) * lda + k];
      for (int64_t r = rows; r < kPanelRows; ++r) panel[k * kPanelRows + r] = 0.0f;
    }
  }
}

void pack_a_transposed_flipped(const float* w, int64_t M_out, int64_t C, int64_t T, float* packed) {
  const int64_t K = M_out * T;  // columns of A' (C, M_out*T)
  for (int64_t c0 = 0; c0 < C; c0 += kPanelRows) {
    float* panel = packed + c0 * K;
    const int64_t rows = std::min(kPanelRows, C - c0);
    for (int64_t o = 0; o < M_out; ++o)
      for (int64_t t = 0; t < T; ++t) {
        float* dst = panel + (o * T + t) * kPanelRows;
        for (int64_t r = 0; r < rows; ++r) dst[r] = w[(o * C + c0 + r) * T + (T - 1 - t)];
        for (int64_t r = rows; r < kPanelRows; ++r) dst[r] = 0.0f;
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
  const int64_t T = plan.taps(), P = plan.P, PV = plan.PV;
  __m512 acc[MR][NV];
  
#pragma GCC unroll 16
for (int r = 0; r < MR; ++r)
    
#pragma GCC unroll 16
for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  const float* a = panel;
  for (int64_t c = 0; c < C; ++c) {
    const float* plane = src + c * P + v0 * 16;
    for (int64_t t = 0; t < T; ++t, a += kPanelRows) {
      const float* s = plane + plan.tap_off[t];
      const uint16_t* m = plan.tap_mask.data() + t * PV + v0;
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

#else  // no AVX-512: Conv2d uses im2col + sgemm; these are never called.

bool direct_conv_available() { return false; }
void direct_conv_forward(const DirectConvPlan&, const float*, int64_t, int64_t, const float*,
                         const float*, bool, float*) {}

#endif

}  // namespace taper
