// The dot kernel on columns read from a word image (quant/dot_implicit.h)
// against dot_implicit_ref, and IntConv's stride-1 dot path (which uses it
// on AVX-512) against conv_codes_ref, on both dispatch paths.
#include <catch2/catch.hpp>
#include <vector>

#include "engine/parallel.h"
#include "engine/rng.h"
#include "quant/cpu_features.h"
#include "quant/dot_implicit.h"
#include "quant/int_conv.h"

using namespace taper;

namespace {

// Random weights (M, 4 G) at wbits, a random word image with G random
// offsets, n columns widened to row_len and kept up to row_keep; the fast
// kernel's output equals the reference's, including the untouched outputs
// (both start from the same filler).
void check_kernel(Rng& rng, int64_t M, int64_t G, int64_t n, int64_t row_len, int64_t row_keep, int wbits) {
  std::vector<uint8_t> q(M * 4 * G);
  for (auto& c : q) c = static_cast<uint8_t>(rng.below(1u << wbits));
  const IntGemmWeights w = prepare_int_gemm(q.data(), M, 4 * G, wbits, 8, IntKernel::dot);
  std::vector<int64_t> off(G);
  for (auto& o : off) o = rng.below(300);
  std::vector<uint32_t> words(300 + (n + 15) / 16 * 16);
  for (auto& x : words) x = uint32_t(rng.below(1u << 16)) | uint32_t(rng.below(1u << 16)) << 16;
  const int64_t outs = (n / row_len + 1) * row_keep;
  std::vector<int32_t> ref(M * outs, -7), got(M * outs, -7);
  dot_implicit_ref(w, words.data(), off.data(), n, row_len, row_keep, ref.data(), outs);
  dot_implicit(w, words.data(), off.data(), n, row_len, row_keep, got.data(), outs);
  INFO("M " << M << " G " << G << " n " << n << " row " << row_len << "/" << row_keep << " w" << wbits << " "
            << int_kernel_name());
  REQUIRE(got == ref);
}

void check_conv(Rng& rng, const IntConvGeom& g, int64_t N, int64_t H, int64_t W, int wbits) {
  const int64_t ICg = g.IC / g.groups;
  std::vector<uint8_t> q(g.OC * ICg * g.KH * g.KW), x(N * g.IC * H * W);
  for (auto& c : q) c = static_cast<uint8_t>(rng.below(1u << wbits));
  for (auto& c : x) c = static_cast<uint8_t>(rng.below(4));
  for (int64_t i = 0; i < g.IC * H * W; ++i) x[i] = 3;  // image 0 at the top code
  const int64_t OH = g.out_h(H), OW = g.out_w(W);
  std::vector<int32_t> ref(N * g.OC * OH * OW), got(ref.size(), 12345);
  conv_codes_ref(g, q.data(), wbits, x.data(), N, H, W, ref.data());
  IntConv conv(g, q.data(), wbits, 2, IntKernel::dot);
  conv.forward(x.data(), N, H, W, got.data());
  INFO("IC " << g.IC << " OC " << g.OC << " k " << g.KH << "x" << g.KW << " p " << g.PH << "x" << g.PW << " groups "
             << g.groups << " N " << N << " " << H << "x" << W << " w" << wbits << " " << int_kernel_name());
  REQUIRE(got == ref);
}

void check_all(uint64_t seed) {
  Rng rng(seed);
  // Every row remainder of the 6-row tile, 1..5 vectors of columns and a
  // partial last one, rows shorter and longer than a vector.
  for (int64_t M = 1; M <= 13; ++M) {
    const int64_t row_len = 1 + rng.below(40);
    check_kernel(rng, M, 1 + rng.below(40), 1 + rng.below(90), row_len, 1 + rng.below(row_len), 1 + rng.below(7));
  }
  check_kernel(rng, 64, 144, 1054, 34, 32, 4);  // resnet20 stage 1 (rows split over threads)
  // Stride-1 convs at least 7 wide: padding 0..2, kernels 1..5, channels
  // not a multiple of 4, groups, one image (rows split over threads).
  const IntConvGeom shapes[] = {{16, 16, 3, 3, 1, 1, 1, 1, 1}, {5, 7, 3, 3, 1, 1, 1, 1, 1},
                                {12, 20, 5, 5, 1, 1, 2, 2, 1}, {9, 6, 3, 5, 1, 1, 0, 1, 1},
                                {8, 10, 1, 1, 1, 1, 0, 0, 2},  {64, 64, 3, 3, 1, 1, 1, 1, 1}};
  for (const IntConvGeom& g : shapes)
    for (int wbits : {1, 2, 4, 7}) check_conv(rng, g, 2, 7 + rng.below(20), 10 + rng.below(24), wbits);
  check_conv(rng, shapes[5], 1, 28, 28, 4);
}

}  // namespace

TEST_CASE("dot_implicit equals dot_implicit_ref, and stride-1 dot convs conv_codes_ref (kernels this CPU runs)") {
  set_num_threads(2);
  check_all(1);
}

TEST_CASE("dot_implicit and stride-1 dot convs on the forced portable path") {
  set_num_threads(2);
  force_portable(true);
  check_all(2);
  force_portable(false);
}

TEST_CASE("preferred_conv_kernel: dot for w2a2 where the dot path reads the word image") {
  const IntConvGeom s1{16, 16, 3, 3, 1, 1, 1, 1, 1}, s2{16, 32, 3, 3, 2, 2, 1, 1, 1}, vgg4{128, 128, 3, 3, 1, 1, 1, 1, 1};
  CHECK(dot_reads_words(s1, 32, 2));
  CHECK(dot_reads_words(s1, 7, 2));
  CHECK(!dot_reads_words(s1, 6, 2));   // 6 wide: too many widened columns
  CHECK(!dot_reads_words(s2, 32, 2));  // stride 2
  CHECK(!dot_reads_words(s1, 32, 8));  // 8-bit weights: the offset trick needs column sums
  CHECK(preferred_conv_kernel(s1, 32, 2, 2) == IntKernel::dot);       // K 144, read from words
  CHECK(preferred_conv_kernel(s1, 6, 2, 2) == IntKernel::bitplane);   // K 144, im2col
  CHECK(preferred_conv_kernel(s2, 32, 2, 2) == IntKernel::bitplane);  // stride 2, K 144
  CHECK(preferred_conv_kernel(s1, 32, 1, 2) == IntKernel::bitplane);  // w1a2: bit planes everywhere
  CHECK(preferred_conv_kernel(vgg4, 14, 1, 2) == IntKernel::bitplane);
  CHECK(preferred_conv_kernel(vgg4, 14, 2, 2) == IntKernel::dot);
  CHECK(preferred_conv_kernel(vgg4, 7, 2, 2) == IntKernel::dot);  // K 1152
  CHECK(preferred_conv_kernel(vgg4, 14, 4, 2) == IntKernel::dot);
}
