#include "quant/pool_codes.h"

#include <immintrin.h>

#include <algorithm>

#include "quant/cpu_features.h"

namespace taper {

void maxpool_codes_ref(const uint8_t* x, int64_t H, int64_t W, int64_t k, int64_t s, int64_t pad, int64_t OH,
                       int64_t OW, uint8_t* y) {
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      uint8_t m = 0;
      for (int64_t kh = 0; kh < k; ++kh) {
        const int64_t h = oh * s - pad + kh;
        if (h < 0 || h >= H) continue;
        for (int64_t kw = 0; kw < k; ++kw) {
          const int64_t w = ow * s - pad + kw;
          if (w >= 0 && w < W) m = std::max(m, x[h * W + w]);
        }
      }
      y[oh * OW + ow] = m;
    }
}

namespace {

// 2x2, stride 2, no padding: output row oh reads input rows 2 oh and 2 oh + 1,
// columns 2 ow and 2 ow + 1 (all inside: OH <= H / 2, OW <= W / 2).
__attribute__((target("avx512f,avx512bw"))) void maxpool2_avx512(const uint8_t* x, int64_t W, int64_t OH,
                                                                 int64_t OW, uint8_t* y) {
  for (int64_t oh = 0; oh < OH; ++oh) {
    const uint8_t* r0 = x + 2 * oh * W;
    const uint8_t* r1 = r0 + W;
    for (int64_t ow = 0; ow < OW; ow += 32) {
      const int64_t n = std::min<int64_t>(32, OW - ow);  // outputs, 2 n input bytes per row
      const __mmask64 kin = 2 * n == 64 ? ~__mmask64(0) : (__mmask64(1) << (2 * n)) - 1;
      const __m512i v =
          _mm512_max_epu8(_mm512_maskz_loadu_epi8(kin, r0 + 2 * ow), _mm512_maskz_loadu_epi8(kin, r1 + 2 * ow));
      const __m512i m = _mm512_max_epu8(v, _mm512_srli_epi16(v, 8));  // low byte of each pair: the pair's max
      _mm512_mask_cvtepi16_storeu_epi8(y + oh * OW + ow, __mmask32((uint64_t(1) << n) - 1), m);
    }
  }
}

}  // namespace

void maxpool_codes(const uint8_t* x, int64_t H, int64_t W, int64_t k, int64_t s, int64_t pad, int64_t OH,
                   int64_t OW, uint8_t* y) {
  if (k == 2 && s == 2 && pad == 0 && 2 * OH <= H && 2 * OW <= W && use_avx512_kernels())
    return maxpool2_avx512(x, W, OH, OW, y);
  maxpool_codes_ref(x, H, W, k, s, pad, OH, OW, y);
}

}  // namespace taper
