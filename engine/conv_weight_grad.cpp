#include "engine/conv_weight_grad.h"

#include <algorithm>
#include <cstring>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace taper {

void pad_planes(const float* x, int64_t C, int64_t H, int64_t W, int64_t PH, int64_t PW, float* xp) {
  const int64_t Hp = H + 2 * PH, Wp = W + 2 * PW;
  for (int64_t c = 0; c < C; ++c) {
    float* plane = xp + c * Hp * Wp;
    std::fill(plane, plane + PH * Wp, 0.0f);
    for (int64_t h = 0; h < H; ++h) {
      float* row = plane + (PH + h) * Wp;
      std::fill(row, row + PW, 0.0f);
      std::memcpy(row + PW, x + (c * H + h) * W, sizeof(float) * W);
      std::fill(row + PW + W, row + Wp, 0.0f);
    }
    std::fill(plane + (PH + H) * Wp, plane + Hp * Wp, 0.0f);
  }
}

void conv_weight_grad_ref(const WeightGradGeom& g, int64_t M, int64_t images, const float* xp,
                          int64_t xp_stride, const float* dyT, int64_t dy_stride, int64_t ldy,
                          float* dwT, int64_t ldw) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw)
        for (int64_t m = 0; m < M; ++m) {
          double acc = 0.0;
          for (int64_t i = 0; i < images; ++i)
            for (int64_t oh = 0; oh < g.OH; ++oh)
              for (int64_t ow = 0; ow < g.OW; ++ow)
                acc += double(xp[i * xp_stride + (c * g.Hp + g.SH * oh + kh) * g.Wp + g.SW * ow + kw]) *
                       dyT[i * dy_stride + (oh * g.OW + ow) * ldy + m];
          dwT[((c * g.KH + kh) * g.KW + kw) * ldw + m] += static_cast<float>(acc);
        }
}

#ifdef __AVX512F__

bool conv_weight_grad_available() { return true; }

namespace {

// Transposes the 16 x 16 block held in r[0..15] (row i in r[i]) in place:
// interleave pairs of rows, then pairs of pairs, then 128-bit lanes twice.
void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 4; ++i) {
      t[8 * h + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0x88);
      t[8 * h + 4 + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
  }
}

}  // namespace

void transpose_to_pixel_major(const float* dy, int64_t M, int64_t P, float* dyT, int64_t ld) {
  // Whole 16 x 16 blocks in registers; the ragged edges element by element.
  const int64_t M16 = M / 16 * 16, P16 = P / 16 * 16;
  for (int64_t m0 = 0; m0 < M16; m0 += 16)
    for (int64_t p0 = 0; p0 < P16; p0 += 16) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(dy + (m0 + i) * P + p0);
      transpose16(r);
      for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dyT + (p0 + i) * ld + m0, r[i]);
    }
  for (int64_t m = 0; m < M; ++m)
    for (int64_t p = m < M16 ? P16 : 0; p < P; ++p) dyT[p * ld + m] = dy[m * P + p];
}

namespace {

// One register tile: MR consecutive rows k of dWT by NV vectors of 16
// output channels starting at m0; `live` masks the last vector's channels.
template <int MR, int NV>
void weight_tile(const WeightGradGeom& g, int64_t k0, int64_t m0, __mmask16 live, int64_t images,
                 const float* xp, int64_t xp_stride, const float* dyT, int64_t dy_stride,
                 int64_t ldy, float* dwT, int64_t ldw) {
  const int64_t T = g.KH * g.KW, SH = g.SH, SW = g.SW, Wp = g.Wp, OH = g.OH, OW = g.OW;
  int64_t off[MR];  // where row k reads in a padded image, for pixel (0, 0)
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    const int64_t c = (k0 + r) / T, t = (k0 + r) % T;
    off[r] = c * g.Hp * g.Wp + (t / g.KW) * g.Wp + t % g.KW;
  }
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t i = 0; i < images; ++i) {
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float* x = xp + i * xp_stride + SH * oh * Wp;  // input under tap (0, 0) of pixel (oh, 0)
      const float* d = dyT + i * dy_stride + oh * OW * ldy + m0;
      for (int64_t ow = 0; ow < OW; ++ow, x += SW, d += ldy) {
        __m512 dv[NV];
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v)
          dv[v] = v + 1 < NV ? _mm512_loadu_ps(d + 16 * v) : _mm512_maskz_loadu_ps(live, d + 16 * v);
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
          const __m512 xv = _mm512_set1_ps(x[off[r]]);
#pragma GCC unroll 16
          for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(xv, dv[v], acc[r][v]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    float* row = dwT + (k0 + r) * ldw + m0;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v + 1 < NV ? __mmask16(0xFFFF) : live;
      _mm512_mask_storeu_ps(row + 16 * v, m,
                            _mm512_add_ps(acc[r][v], _mm512_maskz_loadu_ps(m, row + 16 * v)));
    }
  }
}

using WeightTile = void (*)(const WeightGradGeom&, int64_t, int64_t, __mmask16, int64_t,
                            const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t);

// Generic tiles: 8 rows of dWT by up to 3 vectors (24 accumulators).
constexpr int kRows = 8;

template <int MR>
WeightTile tile_for(int nv) {
  switch (nv) {
    case 1: return weight_tile<MR, 1>;
    case 2: return weight_tile<MR, 2>;
    default: return weight_tile<MR, 3>;
  }
}

WeightTile pick_tile(int64_t mr, int nv) {
  switch (mr) {
    case 1: return tile_for<1>(nv);
    case 2: return tile_for<2>(nv);
    case 3: return tile_for<3>(nv);
    case 4: return tile_for<4>(nv);
    case 5: return tile_for<5>(nv);
    case 6: return tile_for<6>(nv);
    case 7: return tile_for<7>(nv);
    default: return tile_for<8>(nv);
  }
}

// The same sum for 3x3 kernels, with a tile of one input channel (its nine
// taps) by NV vectors: the nine inputs sit at fixed distances kh*Wp + kw
// from one pointer, so every broadcast is a plain memory operand of its
// FMA. That matters most with 16 output channels (NV = 1), where each FMA
// needs its own broadcast; tiles of two or three channels measured slower
// there, as the compiler then runs out of registers for the offsets.
template <int NV>
void weight_tile_3x3(const WeightGradGeom& g, int64_t c, int64_t m0, __mmask16 live,
                     int64_t images, const float* xp, int64_t xp_stride, const float* dyT,
                     int64_t dy_stride, int64_t ldy, float* dwT, int64_t ldw) {
  const int64_t SH = g.SH, SW = g.SW, Wp = g.Wp, OH = g.OH, OW = g.OW, plane = g.Hp * g.Wp;
  __m512 acc[9][NV];  // row kh*3 + kw of dWT for channel c
#pragma GCC unroll 9
  for (int r = 0; r < 9; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t i = 0; i < images; ++i) {
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float* x = xp + i * xp_stride + c * plane + SH * oh * Wp;
      const float* d = dyT + i * dy_stride + oh * OW * ldy + m0;
      for (int64_t ow = 0; ow < OW; ++ow, x += SW, d += ldy) {
        __m512 dv[NV];
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v)
          dv[v] = v + 1 < NV ? _mm512_loadu_ps(d + 16 * v) : _mm512_maskz_loadu_ps(live, d + 16 * v);
#pragma GCC unroll 3
        for (int kh = 0; kh < 3; ++kh)
#pragma GCC unroll 3
          for (int kw = 0; kw < 3; ++kw) {
            const __m512 xv = _mm512_set1_ps(x[kh * Wp + kw]);
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v)
              acc[kh * 3 + kw][v] = _mm512_fmadd_ps(xv, dv[v], acc[kh * 3 + kw][v]);
          }
      }
    }
  }
#pragma GCC unroll 9
  for (int r = 0; r < 9; ++r) {
    float* row = dwT + (c * 9 + r) * ldw + m0;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v + 1 < NV ? __mmask16(0xFFFF) : live;
      _mm512_mask_storeu_ps(row + 16 * v, m,
                            _mm512_add_ps(acc[r][v], _mm512_maskz_loadu_ps(m, row + 16 * v)));
    }
  }
}

}  // namespace

void conv_weight_grad(const WeightGradGeom& g, int64_t M, int64_t images, const float* xp,
                      int64_t xp_stride, const float* dyT, int64_t dy_stride, int64_t ldy,
                      float* dwT, int64_t ldw) {
  const int64_t K = g.C * g.KH * g.KW;
  const int64_t vectors = (M + 15) / 16;
  const int rem = static_cast<int>(M - (vectors - 1) * 16);  // channels in the last vector
  if (g.KH == 3 && g.KW == 3) {
    // Up to three vectors (27 accumulators) per tile, one channel.
    for (int64_t v0 = 0; v0 < vectors; v0 += 3) {
      const int nv = static_cast<int>(std::min<int64_t>(3, vectors - v0));
      const __mmask16 live = v0 + nv == vectors ? __mmask16((1u << rem) - 1) : __mmask16(0xFFFF);
      auto tile = nv == 3 ? weight_tile_3x3<3> : nv == 2 ? weight_tile_3x3<2> : weight_tile_3x3<1>;
      for (int64_t c = 0; c < g.C; ++c)
        tile(g, c, v0 * 16, live, images, xp, xp_stride, dyT, dy_stride, ldy, dwT, ldw);
    }
    return;
  }
  for (int64_t k0 = 0; k0 < K; k0 += kRows) {
    const int64_t mr = std::min<int64_t>(kRows, K - k0);
    for (int64_t v0 = 0; v0 < vectors; v0 += 3) {
      const int nv = static_cast<int>(std::min<int64_t>(3, vectors - v0));
      const __mmask16 live = v0 + nv == vectors ? __mmask16((1u << rem) - 1) : __mmask16(0xFFFF);
      pick_tile(mr, nv)(g, k0, v0 * 16, live, images, xp, xp_stride, dyT, dy_stride, ldy, dwT, ldw);
    }
  }
}

#else  // no AVX-512: Conv2d uses im2col + sgemm; the plain loops stand in.

bool conv_weight_grad_available() { return false; }
void transpose_to_pixel_major(const float* dy, int64_t M, int64_t P, float* dyT, int64_t ld) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t p = 0; p < P; ++p) dyT[p * ld + m] = dy[m * P + p];
}
void conv_weight_grad(const WeightGradGeom& g, int64_t M, int64_t images, const float* xp,
                      int64_t xp_stride, const float* dyT, int64_t dy_stride, int64_t ldy,
                      float* dwT, int64_t ldw) {
  conv_weight_grad_ref(g, M, images, xp, xp_stride, dyT, dy_stride, ldy, dwT, ldw);
}

#endif

}  // namespace taper
