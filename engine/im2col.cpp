#include "engine/im2col.h"

#include <algorithm>
#include <cstring>

namespace taper {

namespace {

// The outputs o in [0, O) whose input o*S - P + k lies inside [0, I) form
// one contiguous range [lo, hi); outside it the window reads padding.
void valid_range(int64_t I, int64_t O, int64_t k, int64_t S, int64_t P, int64_t& lo,
                 int64_t& hi) {
  const int64_t first = P - k;          // need o*S >= P - k
  const int64_t last = I - 1 + P - k;   // need o*S <= I - 1 + P - k
  lo = first > 0 ? std::min(O, (first + S - 1) / S) : 0;
  hi = last < 0 ? 0 : std::min(O, last / S + 1);
  hi = std::max(hi, lo);
}

}  // namespace

void im2col(const ConvGeom& g, const float* x, float* col, int64_t ldcol) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      int64_t oh_lo, oh_hi;
      valid_range(g.H, g.OH, kh, g.SH, g.PH, oh_lo, oh_hi);
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        int64_t ow_lo, ow_hi;
        valid_range(g.W, g.OW, kw, g.SW, g.PW, ow_lo, ow_hi);
        float* row = col + ((c * g.KH + kh) * g.KW + kw) * ldcol;  // (OH, OW) of this tap
        std::fill(row, row + oh_lo * g.OW, 0.0f);
        for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
          float* out = row + oh * g.OW;
          const int64_t ih = oh * g.SH - g.PH + kh, n = ow_hi - ow_lo;
          // src[j * SW] is x[c][ih][iw] for ow = ow_lo + j, iw = ow*SW - PW + kw.
          const float* src = x + (c * g.H + ih) * g.W + ow_lo * g.SW - g.PW + kw;
          std::fill(out, out + ow_lo, 0.0f);
          if (g.SW == 1) {
            std::memcpy(out + ow_lo, src, sizeof(float) * n);
          } else {
            for (int64_t j = 0; j < n; ++j) out[ow_lo + j] = src[j * g.SW];
          }
          std::fill(out + ow_hi, out + g.OW, 0.0f);
        }
        std::fill(row + oh_hi * g.OW, row + g.OH * g.OW, 0.0f);
      }
    }
}

void col2im_add(const ConvGeom& g, const float* col, int64_t ldcol, float* x) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      int64_t oh_lo, oh_hi;
      valid_range(g.H, g.OH, kh, g.SH, g.PH, oh_lo, oh_hi);
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        int64_t ow_lo, ow_hi;
        valid_range(g.W, g.OW, kw, g.SW, g.PW, ow_lo, ow_hi);
        const float* row = col + ((c * g.KH + kh) * g.KW + kw) * ldcol;
        for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
          const float* in = row + oh * g.OW + ow_lo;
          const int64_t ih = oh * g.SH - g.PH + kh, n = ow_hi - ow_lo;
          float* dst = x + (c * g.H + ih) * g.W + ow_lo * g.SW - g.PW + kw;
          // Within one tap, distinct ow hit distinct pixels: no dependence.
          if (g.SW == 1) {
            for (int64_t j = 0; j < n; ++j) dst[j] += in[j];
          } else {
            for (int64_t j = 0; j < n; ++j) dst[j * g.SW] += in[j];
          }
        }
      }
    }
}

}  // namespace taper
