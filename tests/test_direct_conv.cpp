#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "engine/direct_conv.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

// AVX-512 kernel (float32 FMAs) vs plain loops (double): values in [-1, 1)
// and at most a few hundred terms per output.
static constexpr float kKernelAbsTol = 1e-4f;

namespace {

// One image geometry: (C, H, W) -> (OH, OW), kernel, stride, padding.
ConvGeom geom(int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t S, int64_t P) {
  const int64_t OH = (H + 2 * P - KH) / S + 1, OW = (W + 2 * P - KW) / S + 1;
  return {C, H, W, KH, KW, S, S, P, P, OH, OW};
}

void check_plan(const DirectConvPlan& plan, int64_t M, int64_t C, const std::string& what) {
  INFO(what << ", M " << M << ", C " << C);
  const int64_t K = C * plan.taps();
  Tensor a = random_tensor({M, K}, 1);
  Tensor packed({packed_a_size(M, K)});
  pack_a(a.data(), K, M, K, packed.data());
  Tensor src = random_tensor({C * plan.channel_stride}, 2);
  Tensor bias = random_tensor({M}, 3);
  for (bool accumulate : {false, true}) {
    Tensor fast = random_tensor({M, plan.P}, 4), ref = fast.clone();
    direct_conv_forward(plan, packed.data(), M, C, src.data(), accumulate ? nullptr : bias.data(),
                        accumulate, fast.data());
    direct_conv_forward_ref(plan, packed.data(), M, C, src.data(), accumulate ? nullptr : bias.data(),
                            accumulate, ref.data());
    int bad = 0;
    for (int64_t i = 0; i < fast.numel(); ++i)
      if (!(std::fabs(fast[i] - ref[i]) <= kKernelAbsTol) && bad++ < 5)
        FAIL_CHECK("accumulate " << accumulate << " element " << i << ": " << fast[i] << " vs ref "
                                 << ref[i]);
  }
}

}  // namespace

TEST_CASE("direct conv kernel matches its reference loops on forward and backward plans") {
  const ConvGeom geoms[] = {
      geom(3, 6, 7, 3, 3, 1, 1),    // "same" 3x3, 42 pixels (a ragged last vector)
      geom(2, 9, 35, 3, 3, 2, 1),   // stride 2, odd width
      geom(4, 8, 8, 1, 1, 2, 0),    // 1x1 stride 2: one phase read, three unused
      geom(2, 7, 5, 5, 5, 1, 2),    // 5x5 pad 2
      geom(1, 28, 28, 3, 3, 1, 1),  // one input channel, 49 vectors
  };
  for (const ConvGeom& g : geoms)
    for (int64_t B : {1, 3})
      for (int64_t M : {5, 8, 13, 17}) {  // row-panel tails and whole panels
        check_plan(direct_forward_plan(g, B), M, g.C, "forward");
        std::vector<int64_t> taps;
        for (int64_t ph = 0; ph < g.SH * g.SW; ++ph) {
          DirectConvPlan back = direct_backward_plan(g, B, ph, taps);
          REQUIRE(back.taps() == static_cast<int64_t>(taps.size()));
          if (!taps.empty()) check_plan(back, M, 3, "backward phase " + std::to_string(ph));
        }
      }
}

TEST_CASE("direct conv plans say which geometries they fit") {
  CHECK(direct_conv_fits(geom(3, 32, 32, 3, 3, 1, 1)));   // same
  CHECK(direct_conv_fits(geom(3, 32, 32, 3, 3, 2, 1)));   // stride 2 pad 1
  CHECK(direct_conv_fits(geom(3, 32, 32, 1, 1, 2, 0)));   // 1x1 stride 2
  CHECK(direct_conv_fits(geom(3, 31, 31, 3, 3, 2, 1)));   // odd size
  CHECK_FALSE(direct_conv_fits(geom(3, 32, 32, 3, 3, 1, 0)));  // valid: output smaller than input
  CHECK_FALSE(direct_conv_fits(geom(3, 32, 32, 3, 3, 2, 0)));  // stride 2 valid
  CHECK(direct_input_is_phase_plane(geom(3, 32, 32, 3, 3, 1, 1)));
  CHECK_FALSE(direct_input_is_phase_plane(geom(3, 32, 32, 3, 3, 2, 1)));
  // 3x3 stride 2 pad 1: kh - 1 is even only for kh = 1, so input phase
  // (0, 0) is reached by tap (1, 1) = 4 alone and phase (1, 1) by the four
  // corner taps 0, 2, 6, 8.
  std::vector<int64_t> taps;
  direct_backward_plan(geom(1, 8, 8, 3, 3, 2, 1), 1, 0, taps);
  CHECK(taps == std::vector<int64_t>{4});
  direct_backward_plan(geom(1, 8, 8, 3, 3, 2, 1), 1, 3, taps);
  CHECK(taps == std::vector<int64_t>{0, 2, 6, 8});
  direct_backward_plan(geom(1, 8, 8, 1, 1, 2, 0), 1, 1, taps);
  CHECK(taps.empty());
}
