#include "quant/int_conv.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "engine/error.h"
#include "engine/parallel.h"
#include "quant/cpu_features.h"
#include "quant/dot_implicit.h"
#include "quant/pack.h"

namespace taper {

int64_t IntConvGeom::out_h(int64_t H) const {
  const int64_t o = (H + 2 * PH - KH) / SH + 1;
  check(H + 2 * PH >= KH && o >= 1, "int_conv: kernel height ", KH, " does not fit input height ", H,
        " with padding ", PH);
  return o;
}

int64_t IntConvGeom::out_w(int64_t W) const {
  const int64_t o = (W + 2 * PW - KW) / SW + 1;
  check(W + 2 * PW >= KW && o >= 1, "int_conv: kernel width ", KW, " does not fit input width ", W,
        " with padding ", PW);
  return o;
}

void conv_codes_ref(const IntConvGeom& g, const uint8_t* q, int wbits, const uint8_t* x, int64_t N, int64_t H,
                    int64_t W, int32_t* A) {
  const int64_t OH = g.out_h(H), OW = g.out_w(W);
  const int64_t ICg = g.IC / g.groups, OCg = g.OC / g.groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < g.OC; ++o)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          int32_t a = 0;
          for (int64_t c = 0; c < ICg; ++c)
            for (int64_t kh = 0; kh < g.KH; ++kh)
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                const int64_t ih = i * g.SH - g.PH + kh, iw = j * g.SW - g.PW + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;  // padding: code 0
                const int64_t ci = (o / OCg) * ICg + c;
                a += code_to_int(q[((o * ICg + c) * g.KH + kh) * g.KW + kw], wbits) *
                     int32_t(x[((n * g.IC + ci) * H + ih) * W + iw]);
              }
          A[((n * g.OC + o) * OH + i) * OW + j] = a;
        }
}

namespace {

// The dot path reads columns straight from the word image (dot_implicit)
// for stride-1 outputs at least this wide: it computes Wp - OW widened
// columns per output row and drops them (22% more work at 7 wide with a
// 3x3 kernel), and still beats im2col there: at vgg7-fmnist's 7x7 layers
// dot ran 4.0-4.2x the float conv reading the word image, 3.4-3.8x on
// im2col; at resnet20's 8x8 ones 3.7-3.8x against 3.5-3.9x
// (docs/benchmarks.md). Narrower outputs were not measured.
constexpr int64_t kImplicitMinWidth = 7;

}  // namespace

bool dot_reads_words(const IntConvGeom& g, int64_t W, int wbits) {
  return g.SH == 1 && g.SW == 1 && wbits <= 7 && g.out_w(W) >= kImplicitMinWidth;
}

IntKernel preferred_conv_kernel(const IntConvGeom& g, int64_t W, int wbits, int abits) {
  const IntKernel k = preferred_int_kernel(wbits, abits, g.IC / g.groups * g.KH * g.KW);
  return k == IntKernel::bitplane && wbits * abits > 2 && dot_reads_words(g, W, wbits) ? IntKernel::dot : k;
}

IntConv::IntConv(const IntConvGeom& g, const uint8_t* q, int wbits, int abits, IntKernel kernel)
    : g_(g), wbits_(wbits), abits_(abits), kernel_(kernel) {
  check(g.IC >= 1 && g.OC >= 1 && g.KH >= 1 && g.KW >= 1 && g.SH >= 1 && g.SW >= 1 && g.PH >= 0 && g.PW >= 0 &&
            g.groups >= 1 && g.IC % g.groups == 0 && g.OC % g.groups == 0,
        "int_conv: bad geometry IC ", g.IC, " OC ", g.OC, " kernel ", g.KH, "x", g.KW, " stride ", g.SH, "x", g.SW,
        " padding ", g.PH, "x", g.PW, " groups ", g.groups,
        " (sizes and strides >= 1, padding >= 0, channels divisible by groups)");
  ICg_ = g.IC / g.groups, OCg_ = g.OC / g.groups;
  // Bitplane: channels in blocks of B = 64, 32 or 16 when they divide the
  // group's channels (word planes, no padding), else 8 (byte planes, the last
  // byte padded with zero codes).
  // Dot: channels in blocks of B = 4 (the 4 codes of one 32-bit col4 word),
  // the last block padded with zero codes.
  block_ = kernel == IntKernel::dot ? 4 : 8;
  if (kernel == IntKernel::bitplane)
    for (int64_t B : {64, 32, 16})
      if (ICg_ % B == 0) {
        block_ = B;
        break;
      }
  CBg_ = (ICg_ + block_ - 1) / block_;
  const int64_t K = ICg_ * g.KH * g.KW;
  for (int64_t gr = 0; gr < g.groups; ++gr) {
    const uint8_t* qg = q + gr * OCg_ * K;  // (OCg, ICg, KH, KW)
    // K order: r = ((cb KH + kh) KW + kw) B + b for channel c = B cb + b
    // (B = block_: 4 for dot; 8, 16, 32 or 64 for bitplane). A padded
    // channel's weight code is 0; its activation is always code 0, so it
    // adds nothing.
    const int64_t B = block_, Kb = CBg_ * g.KH * g.KW * B;
    std::vector<uint8_t> perm(OCg_ * Kb, 0);
    for (int64_t o = 0; o < OCg_; ++o)
      for (int64_t c = 0; c < ICg_; ++c)
        for (int64_t kh = 0; kh < g.KH; ++kh)
          for (int64_t kw = 0; kw < g.KW; ++kw)
            perm[o * Kb + (((c / B) * g.KH + kh) * g.KW + kw) * B + c % B] =
                qg[((o * ICg_ + c) * g.KH + kh) * g.KW + kw];
    w_.push_back(prepare_int_gemm(perm.data(), OCg_, Kb, wbits, abits, kernel));
  }
}

int64_t IntConv::resident_bytes() const {
  int64_t b = 0;
  for (const IntGemmWeights& w : w_) b += w.resident_bytes();
  return b;
}

namespace {

// d[ow] = the R elements s[0][ow], ..., s[R-1][ow] side by side in one word
// (element i at bits i * 8 sizeof(Src) ...); R = 2, 4 or 8.
template <int R, typename Src, typename Word>
void interleave_row(const Src* const* s, Word* __restrict d, int64_t OW) {
  static_assert(R * sizeof(Src) == sizeof(Word), "R elements fill one word");
  constexpr int b = 8 * sizeof(Src);
  const Src* __restrict s0 = s[0];
  const Src* __restrict s1 = s[1];
  if constexpr (R == 2) {
#pragma omp simd
    for (int64_t ow = 0; ow < OW; ++ow) d[ow] = Word(s0[ow]) | Word(s1[ow]) << b;
  } else if constexpr (R == 4) {
    const Src* __restrict s2 = s[2];
    const Src* __restrict s3 = s[3];
#pragma omp simd
    for (int64_t ow = 0; ow < OW; ++ow)
      d[ow] = Word(s0[ow]) | Word(s1[ow]) << b | Word(s2[ow]) << 2 * b | Word(s3[ow]) << 3 * b;
  } else {
    const Src* __restrict s2 = s[2];
    const Src* __restrict s3 = s[3];
    const Src* __restrict s4 = s[4];
    const Src* __restrict s5 = s[5];
    const Src* __restrict s6 = s[6];
    const Src* __restrict s7 = s[7];
#pragma omp simd
    for (int64_t ow = 0; ow < OW; ++ow)
      d[ow] = Word(s0[ow]) | Word(s1[ow]) << b | Word(s2[ow]) << 2 * b | Word(s3[ow]) << 3 * b |
              Word(s4[ow]) << 4 * b | Word(s5[ow]) << 5 * b | Word(s6[ow]) << 6 * b | Word(s7[ow]) << 7 * b;
  }
}

// AVX-512 version of interleave_row for bytes, for the short rows of small
// images (a 14-pixel row would never enter the compiler's 16-lane vector
// loop): 16 (R = 4) or 8 (R = 8) words per step, the tail under a mask.
template <int R, typename Word>
__attribute__((target("avx512f,avx512bw"))) void interleave_row_avx512(const uint8_t* const* s, Word* d,
                                                                      int64_t OW) {
  constexpr int lanes = 64 / int(sizeof(Word));
  for (int64_t ow = 0; ow < OW; ow += lanes) {
    const int64_t left = std::min<int64_t>(lanes, OW - ow);
    const __mmask64 kb = (uint64_t(1) << left) - 1;
    __m512i v = _mm512_setzero_si512();
    for (int i = 0; i < R; ++i) {
      const __m128i b = _mm512_castsi512_si128(_mm512_maskz_loadu_epi8(kb, s[i] + ow));
      if constexpr (R == 4)
        v = _mm512_or_si512(v, _mm512_slli_epi32(_mm512_cvtepu8_epi32(b), 8 * i));
      else
        v = _mm512_or_si512(v, _mm512_slli_epi64(_mm512_cvtepu8_epi64(b), 8 * i));
    }
    if constexpr (R == 4)
      _mm512_mask_storeu_epi32(d + ow, __mmask16(kb), v);
    else
      _mm512_mask_storeu_epi64(d + ow, __mmask8(kb), v);
  }
}

// interleave_row on the fastest path this CPU has.
template <int R, typename Src, typename Word>
void interleave(const Src* const* s, Word* d, int64_t n, bool avx512) {
  if constexpr (sizeof(Src) == 1 && R >= 4) {
    if (avx512) return interleave_row_avx512<R, Word>(s, d, n);
  }
  interleave_row<R, Src, Word>(s, d, n);
}

// The same with a stride SW between the elements of consecutive words.
template <int R, typename Src, typename Word>
void interleave_row_strided(const Src* const* s, int64_t SW, Word* __restrict d, int64_t OW) {
  for (int64_t ow = 0; ow < OW; ++ow) {
    Word v = 0;
    for (int i = 0; i < R; ++i) v |= Word(s[i][ow * SW]) << (8 * sizeof(Src) * i);
    d[ow] = v;
  }
}

// im2col of a zero-bordered image xp (C, Hp, Wp) of elements Src into words
// of R elements: row r = (c, kh, kw) goes to element r % R of word
// (r / R) * stride + pixel, pixel = oh OW + ow; rows past C KH KW read zeros,
// pixels OH OW .. ldn-1 are 0.
template <int R, typename Src, typename Word>
void im2col_words(const Src* xp, int64_t C, int64_t Hp, int64_t Wp, int64_t KH, int64_t KW, int64_t SH,
                  int64_t SW, int64_t OH, int64_t OW, const Src* zeros, Word* out, int64_t stride, int64_t ldn) {
  const bool avx512 = use_avx512_kernels();
  const int64_t rows = C * KH * KW, groups = (rows + R - 1) / R;
  for (int64_t gr = 0; gr < groups; ++gr) {
    const Src* base[R];
    bool real[R];
    for (int i = 0; i < R; ++i) {
      const int64_t r = gr * R + i;
      real[i] = r < rows;
      if (real[i]) {
        const int64_t c = r / (KH * KW), kh = r / KW % KH, kw = r % KW;
        base[i] = xp + (c * Hp + kh) * Wp + kw;
      }
    }
    Word* o = out + gr * stride;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const Src* s[R];
      for (int i = 0; i < R; ++i) s[i] = real[i] ? base[i] + oh * SH * Wp : zeros;
      if (SW == 1)
        interleave<R, Src, Word>(s, o + oh * OW, OW, avx512);
      else
        interleave_row_strided<R, Src, Word>(s, SW, o + oh * OW, OW);
    }
    std::fill(o + OH * OW, o + ldn, Word(0));
  }
}

// d[iw] = bit l of the 8 codes src[b][iw] as the bits b of one byte.
void to_bit_plane_portable(const uint8_t* const* src, int l, uint8_t* __restrict d, int64_t W) {
  const uint8_t* __restrict s0 = src[0];
  const uint8_t* __restrict s1 = src[1];
  const uint8_t* __restrict s2 = src[2];
  const uint8_t* __restrict s3 = src[3];
  const uint8_t* __restrict s4 = src[4];
  const uint8_t* __restrict s5 = src[5];
  const uint8_t* __restrict s6 = src[6];
  const uint8_t* __restrict s7 = src[7];
#pragma omp simd
  for (int64_t iw = 0; iw < W; ++iw)
    d[iw] = uint8_t(((s0[iw] >> l) & 1) | ((s1[iw] >> l) & 1) << 1 | ((s2[iw] >> l) & 1) << 2 |
                    ((s3[iw] >> l) & 1) << 3 | ((s4[iw] >> l) & 1) << 4 | ((s5[iw] >> l) & 1) << 5 |
                    ((s6[iw] >> l) & 1) << 6 | ((s7[iw] >> l) & 1) << 7);
}

// AVX-512 version of to_bit_plane_portable (which the compiler widens to
// 32-bit lanes, the shift count being a variable): per byte of 64 pixels,
// bit l of channel b's code moved to bit b by one 16-bit shift (the bits
// that cross from the neighbouring byte are masked off), then
// out |= shifted & (1 << b) in one vpternlogq; the tail under a mask.
__attribute__((target("avx512f,avx512bw"))) void to_bit_plane_avx512(const uint8_t* const* src, int l, uint8_t* d,
                                                                    int64_t W) {
  __m128i count[8];
  bool left[8];
  __m512i bit[8];
  for (int b = 0; b < 8; ++b) {
    left[b] = b >= l;
    count[b] = _mm_cvtsi32_si128(left[b] ? b - l : l - b);
    bit[b] = _mm512_set1_epi8(static_cast<char>(1 << b));
  }
  for (int64_t iw = 0; iw < W; iw += 64) {
    const int64_t n = std::min<int64_t>(64, W - iw);
    const __mmask64 k = n == 64 ? ~__mmask64(0) : (__mmask64(1) << n) - 1;
    __m512i out = _mm512_setzero_si512();
    for (int b = 0; b < 8; ++b) {
      const __m512i x = _mm512_maskz_loadu_epi8(k, src[b] + iw);
      const __m512i sh = left[b] ? _mm512_sll_epi16(x, count[b]) : _mm512_srl_epi16(x, count[b]);
      out = _mm512_ternarylogic_epi64(out, sh, bit[b], 0xF8);  // out | (sh & bit)
    }
    _mm512_mask_storeu_epi8(d + iw, k, out);
  }
}

// d[iw] = bit l of the 8 codes src[b][iw] as the bits b of one byte.
void to_bit_plane(const uint8_t* const* src, int l, uint8_t* d, int64_t W, bool avx512) {
  if (avx512) return to_bit_plane_avx512(src, l, d, W);
  to_bit_plane_portable(src, l, d, W);
}

// im2col of a zero-bordered word image xp (C, Hp, Wp): word row r = (c, kh, kw)
// goes to out[r * stride + pixel]; pixels OH OW .. ldn-1 are 0.
// bytes from src to dst in 64-byte AVX-512 steps, the tail under a mask: an
// im2col row is short (14 words of conv4), where a memcpy call costs more
// than the copy.
__attribute__((target("avx512f,avx512bw"))) inline void copy_bytes_avx512(const void* src, void* dst,
                                                                          int64_t bytes) {
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  for (int64_t i = 0; i < bytes; i += 64) {
    const int64_t n = std::min<int64_t>(64, bytes - i);
    const __mmask64 k = n == 64 ? ~__mmask64(0) : (__mmask64(1) << n) - 1;
    _mm512_mask_storeu_epi8(d + i, k, _mm512_maskz_loadu_epi8(k, s + i));
  }
}

template <typename Word>
void im2col_copy_words(const Word* xp, int64_t C, int64_t Hp, int64_t Wp, int64_t KH, int64_t KW, int64_t SH,
                       int64_t SW, int64_t OH, int64_t OW, Word* out, int64_t stride, int64_t ldn) {
  const bool avx512 = use_avx512_kernels();
  for (int64_t r = 0; r < C * KH * KW; ++r) {
    const int64_t c = r / (KH * KW), kh = r / KW % KH, kw = r % KW;
    const Word* base = xp + (c * Hp + kh) * Wp + kw;
    Word* o = out + r * stride;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const Word* src = base + oh * SH * Wp;
      if (SW == 1 && avx512)
        copy_bytes_avx512(src, o + oh * OW, OW * int64_t(sizeof(Word)));
      else if (SW == 1)
        std::memcpy(o + oh * OW, src, OW * sizeof(Word));
      else
        for (int64_t ow = 0; ow < OW; ++ow) o[oh * OW + ow] = src[ow * SW];
    }
    std::fill(o + OH * OW, o + ldn, Word(0));
  }
}

// Per-thread workspaces, reused across calls.
struct Workspace {
  std::vector<uint8_t> padded, zeros, col, planes;
  std::vector<uint64_t> wpadded;
  std::vector<int64_t> off;  // dot_implicit's group offsets
  // The layout whose border wpadded holds zeros in (see bordered): its
  // writers touch only the interior, so the next image of that layout
  // needs no zeroing.
  std::array<int64_t, 10> border_layout{};
};
Workspace& workspace() {
  thread_local Workspace ws;
  return ws;
}

// Zeroes the border of `planes` planes (Hp, Wp) whose (H, W) interior at
// (PH, PW) the caller writes, and `tail` elements after the last plane.
template <typename Word>
void zero_border(Word* out, int64_t planes, int64_t Hp, int64_t Wp, int64_t PH, int64_t PW, int64_t H, int64_t W,
                 int64_t tail);

// ws.wpadded as `planes` planes (Hp, Wp) of Word with a zero border around
// an (H, W) interior at (PH, PW), and `tail` zero elements after them: the
// border is zeroed only when the layout differs from the last one built in
// this buffer (a conv calls this for every image, and the layers of a stage
// share a layout).
template <typename Word>
Word* bordered(Workspace& ws, int64_t planes, int64_t Hp, int64_t Wp, int64_t PH, int64_t PW, int64_t H, int64_t W,
               int64_t tail) {
  ws.wpadded.resize((planes * Hp * Wp * int64_t(sizeof(Word)) + tail * int64_t(sizeof(Word)) + 7) / 8);
  Word* out = reinterpret_cast<Word*>(ws.wpadded.data());
  const std::array<int64_t, 10> layout = {int64_t(sizeof(Word)), planes, Hp, Wp, PH, PW, H, W, tail,
                                          reinterpret_cast<int64_t>(out)};
  if (ws.border_layout != layout) {
    zero_border(out, planes, Hp, Wp, PH, PW, H, W, tail);
    ws.border_layout = layout;
  }
  return out;
}

template <typename Word>
void zero_border(Word* out, int64_t planes, int64_t Hp, int64_t Wp, int64_t PH, int64_t PW, int64_t H, int64_t W,
                 int64_t tail) {
  const int64_t plane = Hp * Wp;
  for (int64_t p = 0; p < planes; ++p) {
    Word* o = out + p * plane;
    std::fill(o, o + PH * Wp + PW, Word(0));  // top rows, and the first row's left border
    for (int64_t h = PH; h < PH + H; ++h)      // right border of row h, left border of row h + 1 (if any)
      std::fill(o + h * Wp + PW + W, o + std::min((h + 1) * Wp + PW, plane), Word(0));
    std::fill(o + std::min((PH + H) * Wp + PW, plane), o + plane, Word(0));  // the rest of the bottom rows
  }
  std::fill(out + planes * Hp * Wp, out + planes * Hp * Wp + tail, Word(0));
}

// Word planes of an image's codes xg (ICg, H, W): (a, nw, Hp, Wp) elements
// of type Word (B = 8 sizeof(Word) bits), zero border of (PH, PW), bit b of
// element w = bit l of the code of channel B w + b. Each element is built
// from sizeof(Word) byte planes over the whole H x W image (long vector
// loops), interleaved row by row into the border. Returns ws.wpadded.
template <typename Word>
const Word* build_word_planes(const uint8_t* xg, int64_t nw, int64_t H, int64_t W, int a, int64_t PH,
                              int64_t PW, int64_t Hp, int64_t Wp, Workspace& ws) {
  constexpr int R = sizeof(Word);  // byte planes per element
  const bool avx512 = use_avx512_kernels();
  const int64_t HW = H * W;
  Word* out = bordered<Word>(ws, a * nw, Hp, Wp, PH, PW, H, W, 0);
  ws.planes.resize(R * HW);
  for (int l = 0; l < a; ++l)
    for (int64_t w = 0; w < nw; ++w) {
      for (int b8 = 0; b8 < R; ++b8) {
        const uint8_t* src[8];
        for (int b = 0; b < 8; ++b) src[b] = xg + (8 * R * w + 8 * b8 + b) * HW;
        to_bit_plane(src, l, &ws.planes[b8 * HW], HW, avx512);
      }
      for (int64_t h = 0; h < H; ++h) {
        const uint8_t* bytes[R];
        for (int b8 = 0; b8 < R; ++b8) bytes[b8] = &ws.planes[b8 * HW + h * W];
        interleave<R, uint8_t, Word>(bytes, out + ((l * nw + w) * Hp + h + PH) * Wp + PW, W, avx512);
      }
    }
  return out;
}

// Channel-block words of an image's codes xg (C, H, W): (CB, Hp, Wp) 32-bit
// words, CB = ceil(C / 4), zero border of (PH, PW), byte i of word cb = the
// code of channel 4 cb + i (0 past C), interleaved row by row into the
// border, and 16 zero words after it (dot_implicit reads up to 15 words
// past the last output column). Returns ws.wpadded.
const uint32_t* build_code_words(const uint8_t* xg, int64_t C, int64_t CB, int64_t H, int64_t W, int64_t PH,
                                 int64_t PW, int64_t Hp, int64_t Wp, Workspace& ws) {
  const bool avx512 = use_avx512_kernels();
  const int64_t HW = H * W;
  uint32_t* out = bordered<uint32_t>(ws, CB, Hp, Wp, PH, PW, H, W, 16);
  for (int64_t cb = 0; cb < CB; ++cb)
    for (int64_t h = 0; h < H; ++h) {
      const uint8_t* src[4];
      for (int i = 0; i < 4; ++i) src[i] = 4 * cb + i < C ? xg + (4 * cb + i) * HW + h * W : ws.zeros.data();
      interleave<4, uint8_t, uint32_t>(src, out + (cb * Hp + h + PH) * Wp + PW, W, avx512);
    }
  return out;
}

}  // namespace

void IntConv::forward_image(const uint8_t* x, int64_t H, int64_t W, int32_t* A) const {
  const IntConvGeom& g = g_;
  const int64_t OH = g.out_h(H), OW = g.out_w(W), OHW = OH * OW;
  const int64_t Hp = H + 2 * g.PH, Wp = W + 2 * g.PW;
  const int64_t ldn = int_gemm_ldn(OHW);
  Workspace& ws = workspace();
  // A zero row for the padding rows of the last im2col word and the missing
  // channels of the last bit-plane byte (never written).
  const size_t zeros = 8 * size_t(std::max({Wp, OW * g.SW + 1, H * W}));  // bytes, room for 64-bit elements
  if (ws.zeros.size() < zeros) ws.zeros.assign(zeros, 0);
  const int a = abits_;
  for (int64_t gr = 0; gr < g.groups; ++gr) {
    const uint8_t* xg = x + gr * ICg_ * H * W;  // (ICg, H, W)
    const IntGemmWeights& w = w_[gr];
    ws.col.resize(int_gemm_col_bytes(w, ldn));
    if (kernel_ == IntKernel::dot) {
      // Channel-block words (CBg, Hp, Wp) with a zero border: byte i of word
      // (cb, h, w) = the code of channel 4 cb + i at (h, w), built over whole
      // images; col4 row (cb, kh, kw) is then word plane cb shifted by
      // (kh, kw): im2col copies rows of words.
      const uint32_t* words = build_code_words(xg, ICg_, CBg_, H, W, g.PH, g.PW, Hp, Wp, ws);
      if (dot_reads_words(g, W, wbits_) && use_avx512_kernels()) {
        // Stride 1: no column buffer; the GEMM reads the words at offset
        // (cb Hp + kh) Wp + kw from output column oh Wp + ow (quant/dot_implicit.h).
        ws.off.resize(CBg_ * g.KH * g.KW);
        for (int64_t cb = 0; cb < CBg_; ++cb)
          for (int64_t kh = 0; kh < g.KH; ++kh)
            for (int64_t kw = 0; kw < g.KW; ++kw) ws.off[(cb * g.KH + kh) * g.KW + kw] = (cb * Hp + kh) * Wp + kw;
        dot_implicit(w, words, ws.off.data(), (OH - 1) * Wp + OW, Wp, OW, A + gr * OCg_ * OHW, OHW);
        continue;
      }
      im2col_copy_words<uint32_t>(words, CBg_, Hp, Wp, g.KH, g.KW, g.SH, g.SW, OH, OW,
                                  reinterpret_cast<uint32_t*>(ws.col.data()), ldn, ldn);
    } else if (block_ > 8) {
      // Word planes (a, ICg/B, Hp, Wp) of B-bit elements, bit b of element w =
      // bit l of the code of channel B w + b, built over whole images; im2col
      // then copies (B = 64, or B = 32 into 32-bit column words) or
      // interleaves (B = 16, 32) rows of elements.
      uint64_t* colq = reinterpret_cast<uint64_t*>(ws.col.data());
      uint32_t* colq32 = reinterpret_cast<uint32_t*>(ws.col.data());  // w.word == 32
      const bool w32 = w.word == 32;
      const int64_t nw = CBg_;
      switch (block_) {
        case 64: {
          const uint64_t* planes = build_word_planes<uint64_t>(xg, nw, H, W, a, g.PH, g.PW, Hp, Wp, ws);
          for (int l = 0; l < a; ++l)
            im2col_copy_words<uint64_t>(planes + l * nw * Hp * Wp, nw, Hp, Wp, g.KH, g.KW, g.SH, g.SW, OH, OW,
                              colq + l * ldn, a * ldn, ldn);
          break;
        }
        case 32: {
          const uint32_t* planes = build_word_planes<uint32_t>(xg, nw, H, W, a, g.PH, g.PW, Hp, Wp, ws);
          for (int l = 0; l < a; ++l)
            if (w32)
              im2col_copy_words<uint32_t>(planes + l * nw * Hp * Wp, nw, Hp, Wp, g.KH, g.KW, g.SH, g.SW, OH, OW,
                                          colq32 + l * ldn, a * ldn, ldn);
            else
              im2col_words<2, uint32_t, uint64_t>(planes + l * nw * Hp * Wp, nw, Hp, Wp, g.KH, g.KW, g.SH, g.SW, OH,
                                                OW, reinterpret_cast<const uint32_t*>(ws.zeros.data()),
                                                colq + l * ldn, a * ldn, ldn);
          break;
        }
        default: {
          const uint16_t* planes = build_word_planes<uint16_t>(xg, nw, H, W, a, g.PH, g.PW, Hp, Wp, ws);
          for (int l = 0; l < a; ++l)
            if (w32)
              im2col_words<2, uint16_t, uint32_t>(planes + l * nw * Hp * Wp, nw, Hp, Wp, g.KH, g.KW, g.SH, g.SW, OH,
                                                  OW, reinterpret_cast<const uint16_t*>(ws.zeros.data()),
                                                  colq32 + l * ldn, a * ldn, ldn);
            else
              im2col_words<4, uint16_t, uint64_t>(planes + l * nw * Hp * Wp, nw, Hp, Wp, g.KH, g.KW, g.SH, g.SW, OH,
                                                OW, reinterpret_cast<const uint16_t*>(ws.zeros.data()),
                                                colq + l * ldn, a * ldn, ldn);
          break;
        }
      }
    } else {
      // Byte-planar bit planes with a zero border: (a, CBg, Hp, Wp). Each
      // plane is built over whole H x W images (long vector loops) in
      // `planes`, then copied row by row into the border.
      ws.padded.assign(a * CBg_ * Hp * Wp, 0);
      ws.planes.resize(H * W);
      for (int l = 0; l < a; ++l)
        for (int64_t cb = 0; cb < CBg_; ++cb) {
          const int64_t cn = std::min<int64_t>(8, ICg_ - 8 * cb);
          const uint8_t* src[8];
          for (int64_t b = 0; b < 8; ++b) src[b] = b < cn ? xg + (8 * cb + b) * H * W : ws.zeros.data();
          to_bit_plane(src, l, ws.planes.data(), H * W, use_avx512_kernels());
          for (int64_t h = 0; h < H; ++h)
            std::memcpy(&ws.padded[((l * CBg_ + cb) * Hp + h + g.PH) * Wp + g.PW], &ws.planes[h * W], W);
        }
      uint64_t* colq = reinterpret_cast<uint64_t*>(ws.col.data());
      uint32_t* colq32 = reinterpret_cast<uint32_t*>(ws.col.data());  // w.word == 32
      for (int l = 0; l < a; ++l)
        if (w.word == 32)
          im2col_words<4, uint8_t, uint32_t>(&ws.padded[l * CBg_ * Hp * Wp], CBg_, Hp, Wp, g.KH, g.KW, g.SH, g.SW, OH,
                                             OW, ws.zeros.data(), colq32 + l * ldn, a * ldn, ldn);
        else
          im2col_words<8, uint8_t, uint64_t>(&ws.padded[l * CBg_ * Hp * Wp], CBg_, Hp, Wp, g.KH, g.KW, g.SH, g.SW, OH,
                                             OW, ws.zeros.data(), colq + l * ldn, a * ldn, ldn);
    }
    int_gemm(w, ws.col.data(), ldn, OHW, A + gr * OCg_ * OHW, OHW);
  }
}

void IntConv::forward(const uint8_t* x, int64_t N, int64_t H, int64_t W, int32_t* A) const {
  const int64_t OHW = g_.out_h(H) * g_.out_w(W);
  parallel_for(N, N > 1, [&](int64_t n) { forward_image(x + n * g_.IC * H * W, H, W, A + n * g_.OC * OHW); });
}

void IntConv::forward(const uint8_t* x, int64_t N, int64_t H, int64_t W, const ImageEpilogue& epilogue) const {
  const int64_t OHW = g_.out_h(H) * g_.out_w(W);
  parallel_for(N, N > 1, [&](int64_t n) {
    thread_local std::vector<int32_t> acc;  // (OC, OH, OW) of one image
    acc.resize(g_.OC * OHW);
    forward_image(x + n * g_.IC * H * W, H, W, acc.data());
    epilogue(n, acc.data());
  });
}

}  // namespace taper
