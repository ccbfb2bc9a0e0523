#include <catch2/catch.hpp>
#include <cmath>

#include "engine/conv_weight_grad.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

// AVX-512 kernel (float32 FMAs) vs plain loops (double): values in [-1, 1)
// and at most a few thousand terms per sum.
static constexpr float kKernelAbsTol = 2e-4f;

TEST_CASE("weight-gradient kernel matches its reference loops") {
  struct Case {
    int64_t C, H, W, KH, KW, S, P;
  };
  const Case cases[] = {
      {3, 6, 7, 3, 3, 1, 1},  // the 3x3 tiles
      {2, 9, 8, 3, 3, 2, 1},  // 3x3 stride 2
      {4, 8, 8, 1, 1, 2, 0},  // the generic tile: 1x1 stride 2
      {2, 7, 6, 5, 5, 1, 2},  // 5x5
      {3, 5, 9, 2, 3, 1, 0},  // non-square, unpadded
  };
  for (const Case& c : cases)
    for (int64_t M : {16, 20, 37, 64}) {  // one to four vectors of output channels, with tails
      INFO("C " << c.C << " " << c.H << "x" << c.W << " kernel " << c.KH << "x" << c.KW << " stride "
                << c.S << " pad " << c.P << " M " << M);
      const int64_t Hp = c.H + 2 * c.P, Wp = c.W + 2 * c.P;
      const WeightGradGeom g{c.C, c.KH, c.KW, c.S, c.S, Hp, Wp, (Hp - c.KH) / c.S + 1,
                             (Wp - c.KW) / c.S + 1};
      const int64_t images = 2, P = g.OH * g.OW, ldy = M + 3, ldw = M + 1;
      Tensor xp = random_tensor({images, c.C, Hp, Wp}, 1);
      Tensor dyT = random_tensor({images, P, ldy}, 2);
      Tensor fast = random_tensor({c.C * c.KH * c.KW, ldw}, 3), ref = fast.clone();
      conv_weight_grad(g, M, images, xp.data(), c.C * Hp * Wp, dyT.data(), P * ldy, ldy, fast.data(), ldw);
      conv_weight_grad_ref(g, M, images, xp.data(), c.C * Hp * Wp, dyT.data(), P * ldy, ldy, ref.data(), ldw);
      int bad = 0;
      for (int64_t i = 0; i < fast.numel(); ++i)
        if (!(std::fabs(fast[i] - ref[i]) <= kKernelAbsTol) && bad++ < 5)
          FAIL_CHECK("element " << i << ": " << fast[i] << " vs ref " << ref[i]);
    }
}

TEST_CASE("transpose to pixel-major and zero padding") {
  const int64_t M = 37, P = 50, ld = 40;  // whole 16x16 blocks and ragged edges
  Tensor dy = random_tensor({M, P}, 4);
  Tensor dyT = Tensor::full({P, ld}, 7.0f);
  transpose_to_pixel_major(dy.data(), M, P, dyT.data(), ld);
  for (int64_t p = 0; p < P; ++p) {
    for (int64_t m = 0; m < M; ++m) REQUIRE(dyT[p * ld + m] == dy[m * P + p]);
    for (int64_t m = M; m < ld; ++m) REQUIRE(dyT[p * ld + m] == 7.0f);  // untouched
  }
  // One 2x3 plane padded by (1, 2): a 4x7 plane with the values in the middle.
  Tensor x = Tensor::from({1, 2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor xp = Tensor::full({1, 4, 7}, 9.0f);
  pad_planes(x.data(), 1, 2, 3, 1, 2, xp.data());
  const float want[28] = {0, 0, 0, 0, 0, 0, 0,  //
                          0, 0, 1, 2, 3, 0, 0,  //
                          0, 0, 4, 5, 6, 0, 0,  //
                          0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 28; ++i) CHECK(xp[i] == want[i]);
}
