// Integer convolution on codes (im2col + integer GEMM) against conv_codes_ref.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/rng.h"
#include "quant/cpu_features.h"
#include "quant/int_conv.h"

using namespace taper;

namespace {

void check_conv(Rng& rng, const IntConvGeom& g, int64_t N, int64_t H, int64_t W, int wbits, int abits,
                IntKernel kernel) {
  const int64_t ICg = g.IC / g.groups;
  std::vector<uint8_t> q(g.OC * ICg * g.KH * g.KW), x(N * g.IC * H * W);
  for (auto& c : q) c = static_cast<uint8_t>(rng.below(1u << wbits));
  for (auto& c : x) c = static_cast<uint8_t>(rng.below(1u << abits));
  // Image 0 all at the top code: the largest accumulators, and padding still 0.
  for (int64_t i = 0; i < g.IC * H * W; ++i) x[i] = static_cast<uint8_t>((1 << abits) - 1);
  const int64_t OH = g.out_h(H), OW = g.out_w(W);
  std::vector<int32_t> ref(N * g.OC * OH * OW), got(ref.size(), 12345);
  conv_codes_ref(g, q.data(), wbits, x.data(), N, H, W, ref.data());
  IntConv conv(g, q.data(), wbits, abits, kernel);
  conv.forward(x.data(), N, H, W, got.data());
  INFO("IC " << g.IC << " OC " << g.OC << " k " << g.KH << "x" << g.KW << " s " << g.SH << "x" << g.SW << " p "
             << g.PH << "x" << g.PW << " groups " << g.groups << " N " << N << " " << H << "x" << W << " w" << wbits
             << "a" << abits << " " << int_kernel_label(kernel) << " " << int_kernel_name());
  REQUIRE(got == ref);
  // One image at a time through the epilogue: the same accumulators.
  std::vector<int32_t> per_image(ref.size(), 12345);
  const int64_t per = g.OC * OH * OW;
  conv.forward(x.data(), N, H, W, [&](int64_t n, const int32_t* A) {
    for (int64_t i = 0; i < per; ++i) per_image[n * per + i] = A[i];
  });
  REQUIRE(per_image == ref);
}

void check_random_shapes(uint64_t seed, int cases) {
  Rng rng(seed);
  for (int t = 0; t < cases; ++t) {
    IntConvGeom g;
    g.groups = 1 + rng.below(3);
    g.IC = g.groups * (1 + rng.below(20));
    g.OC = g.groups * (1 + rng.below(14));
    g.KH = 1 + rng.below(4), g.KW = 1 + rng.below(4);
    g.SH = 1 + rng.below(2), g.SW = 1 + rng.below(3);
    g.PH = rng.below(3), g.PW = rng.below(3);
    const int64_t H = g.KH + rng.below(12), W = g.KW + rng.below(12), N = 1 + rng.below(3);
    const int wbits = 1 + rng.below(8), abits = 1 + rng.below(4);
    check_conv(rng, g, N, H, W, wbits, abits, IntKernel::dot);
    check_conv(rng, g, N, H, W, wbits, abits, IntKernel::bitplane);
    check_conv(rng, g, N, H, W, 1, abits, IntKernel::bitplane);
  }
}

}  // namespace

TEST_CASE("conv on codes equals conv_codes_ref on random shapes (kernels this CPU runs)") {
  set_num_threads(2);
  check_random_shapes(11, 150);
}

TEST_CASE("conv on codes, forced portable path, equals conv_codes_ref") {
  set_num_threads(2);
  force_portable(true);
  check_random_shapes(12, 60);
  force_portable(false);
}

TEST_CASE("conv on codes at the reference models' shapes (reduced batch)") {
  set_num_threads(2);
  Rng rng(13);
  IntConvGeom vgg4{128, 128, 3, 3, 1, 1, 1, 1, 1};
  IntConvGeom s2{16, 32, 3, 3, 2, 2, 1, 1, 1};
  IntConvGeom proj{32, 64, 1, 1, 2, 2, 0, 0, 1};
  IntConvGeom grouped{64, 96, 3, 3, 1, 1, 1, 1, 2};
  for (int wbits : {1, 2, 4, 8}) {
    check_conv(rng, vgg4, 3, 14, 14, wbits, 2, IntKernel::dot);
    check_conv(rng, s2, 2, 32, 32, wbits, 2, IntKernel::dot);
    check_conv(rng, proj, 2, 16, 16, wbits, 2, IntKernel::dot);
    check_conv(rng, grouped, 1, 9, 9, wbits, 3, IntKernel::dot);  // one image: rows split over threads
  }
  check_conv(rng, vgg4, 3, 14, 14, 1, 2, IntKernel::bitplane);
  check_conv(rng, vgg4, 2, 14, 14, 2, 2, IntKernel::bitplane);
  check_conv(rng, vgg4, 1, 14, 14, 1, 2, IntKernel::bitplane);
  check_conv(rng, s2, 2, 32, 32, 1, 2, IntKernel::bitplane);
  check_conv(rng, grouped, 2, 9, 9, 1, 1, IntKernel::bitplane);
}

TEST_CASE("IntConv rejects a bad geometry") {
  std::vector<uint8_t> q(100, 0);
  CHECK_THROWS_AS(IntConv(IntConvGeom{3, 4, 3, 3, 1, 1, 1, 1, 2}, q.data(), 2, 2, IntKernel::dot), Error);
  CHECK_THROWS_AS(IntConv(IntConvGeom{4, 4, 3, 3, 0, 1, 1, 1, 1}, q.data(), 2, 2, IntKernel::dot), Error);
  IntConv c(IntConvGeom{1, 1, 5, 5, 1, 1, 0, 0, 1}, q.data(), 2, 2, IntKernel::dot);
  CHECK_THROWS_WITH(c.geom().out_h(3), Catch::Contains("does not fit"));
}

TEST_CASE("bitplane conv with 16/32/64-channel word planes, both paths") {
  set_num_threads(2);
  Rng rng(14);
  const IntConvGeom shapes[] = {
      {128, 32, 3, 3, 2, 1, 1, 0, 2},  // 64 channels per group, strides (2, 1), padding (1, 0)
      {64, 16, 1, 1, 2, 2, 0, 0, 1},   // 1x1 stride 2
      {192, 24, 2, 3, 1, 1, 1, 2, 1},  // three 64-bit words, odd kernel
      {32, 8, 3, 3, 1, 1, 1, 1, 1},    // 32-bit elements
      {96, 12, 3, 3, 2, 2, 1, 1, 3},   // 32 channels per group, stride 2
      {48, 12, 3, 3, 1, 2, 1, 1, 3},   // 16-bit elements
      {16, 6, 1, 3, 1, 1, 0, 1, 1},    // 16-bit elements, 3 taps (a partial last word)
  };
  for (bool portable : {false, true}) {
    force_portable(portable);
    for (const IntConvGeom& g : shapes)
      for (int wbits : {1, 2, 5})
        for (int abits : {1, 2, 3}) check_conv(rng, g, 2, 7, 9, wbits, abits, IntKernel::bitplane);
  }
  force_portable(false);
}
