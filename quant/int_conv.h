// Integer convolution on activation codes: im2col of u8 codes + the integer
// GEMM of quant/int_gemm.h, with stride, zero padding and groups.
//
//   x (N, IC, H, W) u8 activation codes p (0..P, P = 2^a - 1), NCHW;
//   q (OC, IC/groups, KH, KW) k-bit weight codes (PyTorch's layout);
//   A (N, OC, OH, OW) int32, OH = (H + 2 PH - KH) / SH + 1 (same for OW):
//
//   A[n, o, i, j] = sum_{c, kh, kw} (2 q[o, c, kh, kw] - L)
//                                   * x[n, g ICg + c, i SH - PH + kh, j SW - PW + kw]
//
// with g = o / OCg the group of o and x = 0 outside the image: zero padding
// is code 0, exact, because 0 is a real activation value (the quantized
// ReLU's 0). A is the exact integer accumulator of the mission's formula;
// y = A / (L P) (times s_o at k = 1) is the float layer's output, and
// quant/thresholds.h turns A straight into the next layer's codes.
//
// How it runs (per image, per group; threads over images, or over output
// channel blocks when there is one image):
// - dot kernel: the channels of a group are cut into blocks of 4 (the last
//   padded with zero codes); the image becomes 32-bit words with a zero
//   border, byte i of word (cb, h, w) = the code of channel 4 cb + i, built
//   over whole images, and im2col copies rows of those words into col4: the
//   K order of the dot weights is r = ((cb KH + kh) KW + kw) 4 + i.
// - bitplane kernel (fast for wbits * abits <= 4): the channels of a group
//   are cut into blocks of B bits (B = 64, 32 or 16 when B divides the
//   group's channel count, else 8 with the last block padded with zero
//   codes); the image's codes become bit planes of B-bit elements (bit b of
//   element w = bit l of the code of channel B w + b), built over whole
//   images, and im2col of those planes writes colq, one B-bit element per
//   (w, kh, kw) row, 64 / B rows per 64-bit word. So the K order of the
//   bitplane weights is r = ((w KH + kh) KW + kw) B + b.
// Weights are permuted and packed for the chosen kernel once, in the
// constructor.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "quant/int_gemm.h"

namespace taper {

struct IntConvGeom {
  int64_t IC = 0, OC = 0, KH = 0, KW = 0;
  int64_t SH = 1, SW = 1, PH = 0, PW = 0, groups = 1;
  // Output size along one axis; Error when the kernel does not fit.
  int64_t out_h(int64_t H) const;
  int64_t out_w(int64_t W) const;
};

class IntConv {
 public:
  // q (OC, IC/groups, KH, KW) weight codes at wbits; activations at abits.
  // Throws Error on a bad geometry or codes that do not fit.
  IntConv(const IntConvGeom& g, const uint8_t* q, int wbits, int abits, IntKernel kernel);

  // x (N, IC, H, W) codes (each <= 2^abits - 1; not checked in this hot
  // path: the caller produced them), A (N, OC, OH, OW).
  void forward(const uint8_t* x, int64_t N, int64_t H, int64_t W, int32_t* A) const;

  // The same, one image at a time: image n's accumulators A_n (OC, OH, OW)
  // go to epilogue(n, A_n) in the thread that computed them, from a
  // per-thread buffer that the next image overwrites, so the (N, OC, OH, OW)
  // int32 tensor is never held (the integer engine's thresholds or batch
  // norm read it while it is in cache).
  using ImageEpilogue = std::function<void(int64_t n, const int32_t* A_n)>;
  void forward(const uint8_t* x, int64_t N, int64_t H, int64_t W, const ImageEpilogue& epilogue) const;

  const IntConvGeom& geom() const { return g_; }
  IntKernel kernel() const { return kernel_; }
  int wbits() const { return wbits_; }
  int abits() const { return abits_; }
  // Bytes of the prepared weights this layer keeps resident.
  int64_t resident_bytes() const;

 private:
  void forward_image(const uint8_t* x, int64_t H, int64_t W, int32_t* A) const;
  IntConvGeom g_;
  int wbits_, abits_;
  IntKernel kernel_;
  int64_t ICg_, OCg_;                  // channels per group
  int64_t block_ = 8, CBg_ = 0;        // bitplane: channels per block B (8, 16, 32, 64), blocks per group
  std::vector<IntGemmWeights> w_;      // one per group
};

// The kernel that is faster for this conv on inputs W wide (quant/int_gemm.h,
// preferred_int_kernel, with K = IC/groups KH KW), except that a stride-1
// dot conv at least 7 wide reads its columns straight from the word image
// (quant/dot_implicit.h), which makes dot the faster one for w2a2 there too
// (resnet20's 32x32 stage: 3.4x the float conv on dot, 2.6x on bit planes;
// docs/benchmarks.md).
IntKernel preferred_conv_kernel(const IntConvGeom& g, int64_t W, int wbits, int abits);
// Whether the dot path of this conv reads columns straight from the word
// image (stride 1, at most 7-bit weights, output at least 7 wide; on
// AVX-512 only, checked when it runs).
bool dot_reads_words(const IntConvGeom& g, int64_t W, int wbits);

// Scalar reference: the formula above, seven plain loops.
void conv_codes_ref(const IntConvGeom& g, const uint8_t* q, int wbits, const uint8_t* x, int64_t N, int64_t H,
                    int64_t W, int32_t* A);

}  // namespace taper
