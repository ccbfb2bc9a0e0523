// The end of a residual block folded into thresholds (quant/residual_thresholds.h).
#include <catch2/catch.hpp>
#include <algorithm>
#include <vector>

#include "engine/error.h"
#include "engine/rng.h"
#include "quant/cpu_features.h"
#include "quant/residual_thresholds.h"

using namespace taper;

namespace {

float uniform(Rng& rng, float lo, float hi) { return lo + (hi - lo) * float(rng.below(1000001)) / 1e6f; }

std::vector<ResidualChannel> random_channels(Rng& rng, int64_t C, float acc_scale) {
  std::vector<ResidualChannel> ch(C);
  for (int64_t c = 0; c < C; ++c) {
    ResidualChannel& f = ch[c];
    f.acc_scale = acc_scale * uniform(rng, 0.5f, 2.0f);
    f.bias = c % 4 == 1 ? uniform(rng, -0.3f, 0.3f) : 0.0f;
    f.mean = uniform(rng, -0.5f, 0.5f);
    f.bn_scale = uniform(rng, 0.2f, 3.0f) * (c % 3 == 2 ? -1.0f : 1.0f);
    if (c % 7 == 5) f.bn_scale = 0.0f;  // direction 0
    f.shift = uniform(rng, -0.5f, 1.0f);
  }
  return ch;
}

}  // namespace

TEST_CASE("residual thresholds give the float formula's code for every accumulator and shortcut code") {
  Rng rng(31);
  int dirs[3] = {0, 0, 0};
  for (int abits : {1, 2, 3, 4}) {
    const int64_t C = 21;
    const float P = float((1 << abits) - 1);
    const int32_t amax = 3000, amin = -3000;
    std::vector<ResidualChannel> ch = random_channels(rng, C, 1.0f / (amax * 0.5f));
    ResidualThresholds th = fold_residual_thresholds(ch, abits, amin, amax);
    REQUIRE(th.P == (1 << abits) - 1);
    const int64_t HW = int64_t(amax - amin + 1) * (th.P + 1);  // every (A, o) once per channel
    std::vector<int32_t> A(C * HW);
    std::vector<uint8_t> o(C * HW), ref(C * HW);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        A[c * HW + i] = amin + int32_t(i / (th.P + 1));
        o[c * HW + i] = static_cast<uint8_t>(i % (th.P + 1));
      }
    apply_residual_thresholds_ref(th, A.data(), o.data(), 1, HW, ref.data());
    for (int64_t c = 0; c < C; ++c) {
      ++dirs[th.dir[c] + 1];
      int64_t wrong = 0;
      for (int64_t i = 0; i < HW; ++i)
        wrong += int(ref[c * HW + i]) != residual_code(A[c * HW + i], ch[c], o[c * HW + i], P);
      INFO("a" << abits << " channel " << c << " dir " << int(th.dir[c]));
      REQUIRE(wrong == 0);
    }
    // The codes are not all the same (the test can see a wrong threshold).
    CHECK(*std::max_element(ref.begin(), ref.end()) == th.P);
    CHECK(*std::min_element(ref.begin(), ref.end()) == 0);
  }
  CHECK(dirs[0] > 0);
  CHECK(dirs[1] > 0);
  CHECK(dirs[2] > 0);
}

TEST_CASE("apply_residual_thresholds equals the reference on both paths") {
  Rng rng(32);
  for (bool portable : {false, true}) {
    force_portable(portable);
    for (int abits : {1, 2, 4}) {
      const int64_t C = 6, N = 2;
      std::vector<ResidualChannel> ch = random_channels(rng, C, 1.0f / 500.0f);
      ResidualThresholds th = fold_residual_thresholds(ch, abits, -1000, 1000);
      for (int64_t HW : {1, 15, 16, 17, 64, 100}) {
        std::vector<int32_t> A(N * C * HW);
        std::vector<uint8_t> o(A.size()), ref(A.size()), fast(A.size() + 16, 99);
        for (auto& a : A) a = int32_t(rng.below(2001)) - 1000;
        for (auto& c : o) c = static_cast<uint8_t>(rng.below(uint32_t(th.P + 1)));
        apply_residual_thresholds_ref(th, A.data(), o.data(), N, HW, ref.data());
        apply_residual_thresholds(th, A.data(), o.data(), N, HW, fast.data());
        INFO("a" << abits << " HW " << HW << " " << int_kernel_name());
        REQUIRE(std::vector<uint8_t>(fast.begin(), fast.begin() + A.size()) == ref);
        for (size_t i = A.size(); i < fast.size(); ++i) REQUIRE(fast[i] == 99);
      }
    }
  }
  force_portable(false);
}

TEST_CASE("fold_residual_thresholds rejects bits and ranges it cannot serve") {
  std::vector<ResidualChannel> ch(2);
  CHECK_THROWS_AS(fold_residual_thresholds(ch, 5, -10, 10), Error);
  CHECK_THROWS_AS(fold_residual_thresholds(ch, 2, 10, -10), Error);
  CHECK_THROWS_AS(fold_residual_thresholds(ch, 2, -2147483647, 10), Error);
}
