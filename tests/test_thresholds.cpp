// Batch norm + activation quantizer folded into integer thresholds.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/rng.h"
#include "layers/batchnorm.h"
#include "quant/cpu_features.h"
#include "quant/thresholds.h"

using namespace taper;

namespace {

// Random batch-norm channels with the cases that matter: negative and zero
// gamma, tiny and zero variance, zero and negative accumulator scales.
struct Channels {
  std::vector<float> scale, gamma, beta, mean, var;
};

Channels random_channels(Rng& rng, int64_t C, int abits, int wbits) {
  Channels ch;
  const float LP = float(((1 << wbits) - 1) * ((1 << abits) - 1));
  for (int64_t c = 0; c < C; ++c) {
    float s = 1.0f / LP;
    if (c % 7 == 3) s = -s * rng.uniform(0.5f, 2.0f);  // a binarized layer's negative... or any sign
    if (c % 11 == 5) s = 0.0f;
    float g = rng.normal();
    if (c % 5 == 2) g = 0.0f;
    if (c % 5 == 4) g = -std::fabs(g);
    float v = rng.uniform(0.0f, 2.0f);
    if (c % 6 == 1) v = 1e-12f;
    if (c % 13 == 7) v = 0.0f;
    ch.scale.push_back(s);
    ch.gamma.push_back(g);
    ch.beta.push_back(rng.uniform(-0.5f, 1.5f));
    ch.mean.push_back(rng.uniform(-1.0f, 1.0f) * (c % 4 == 0 ? 0.01f : 1.0f));
    ch.var.push_back(v);
  }
  return ch;
}

}  // namespace

TEST_CASE("thresholds give the float formula's code for every accumulator in range") {
  Rng rng(21);
  const float eps = 1e-5f;
  const int64_t C = 60;
  int dirs[3] = {0, 0, 0};
  for (int abits : {1, 2, 3, 4, 8})
    for (int wbits : {1, 2, 8}) {
      Channels p = random_channels(rng, C, abits, wbits);
      std::vector<FoldedChannel> ch =
          fold_batchnorm(p.scale.data(), p.gamma.data(), p.beta.data(), p.mean.data(), p.var.data(), eps, C);
      const int32_t amax = 4000, amin = -4000;
      ActThresholds th = fold_thresholds(ch, abits, amin, amax);
      REQUIRE(th.P == (1 << abits) - 1);
      const int64_t HW = amax - amin + 1;
      std::vector<int32_t> A(C * HW);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < HW; ++i) A[c * HW + i] = amin + int32_t(i);
      std::vector<uint8_t> ref(A.size()), fast(A.size());
      apply_thresholds_ref(th, A.data(), 1, HW, ref.data());
      apply_thresholds(th, A.data(), 1, HW, fast.data());
      REQUIRE(ref == fast);
      const float P = float(th.P);
      for (int64_t c = 0; c < C; ++c) {
        ++dirs[th.dir[c] + 1];
        for (int64_t t = 1; t < th.P; ++t) REQUIRE(th.u[c * th.P + t - 1] <= th.u[c * th.P + t]);
        int64_t wrong = 0, first = -1;
        for (int64_t i = 0; i < HW; ++i)
          if (int(ref[c * HW + i]) != folded_code(A[c * HW + i], ch[c], P)) wrong += 1, first = first < 0 ? i : first;
        INFO("a" << abits << " w" << wbits << " channel " << c << " dir " << int(th.dir[c]) << " first wrong A "
                 << (first < 0 ? 0 : A[c * HW + first]));
        REQUIRE(wrong == 0);
      }
    }
  // Every case occurred.
  CHECK(dirs[0] > 0);
  CHECK(dirs[1] > 0);
  CHECK(dirs[2] > 0);
}

TEST_CASE("apply_thresholds equals apply_thresholds_ref on both paths (rows with tails, extreme accumulators)") {
  Rng rng(22);
  for (bool portable : {false, true}) {
    force_portable(portable);
    for (int abits : {1, 2, 3, 8}) {
      const int64_t C = 5, N = 2, P = (int64_t(1) << abits) - 1;
      for (int64_t HW : {1, 15, 16, 17, 49, 196}) {
        ActThresholds th;
        th.abits = abits, th.C = C, th.P = P;
        th.dir = {1, -1, 0, 1, -1};
        th.u.resize(C * P);
        for (int64_t c = 0; c < C; ++c) {
          std::vector<int32_t> u(P);
          for (auto& x : u) x = int32_t(rng.below(2001)) - 1000;
          if (c == 3) u[0] = -2147483646, u[P - 1] = 2147483646;  // sentinels at the int32 edge
          if (c == 2) for (auto& x : u) x = int32_t(rng.below(2));  // d = 0: 0 or 1
          std::sort(u.begin(), u.end());
          std::copy(u.begin(), u.end(), th.u.begin() + c * P);
        }
        std::vector<int32_t> A(N * C * HW);
        for (auto& a : A) a = int32_t(rng.below(2401)) - 1200;
        A[0] = -2147483646, A[A.size() - 1] = 2147483646;
        std::vector<uint8_t> ref(A.size()), fast(A.size() + 16, 99);
        apply_thresholds_ref(th, A.data(), N, HW, ref.data());
        apply_thresholds(th, A.data(), N, HW, fast.data());
        INFO("a" << abits << " HW " << HW << " " << int_kernel_name());
        REQUIRE(std::vector<uint8_t>(fast.begin(), fast.begin() + A.size()) == ref);
        for (size_t i = A.size(); i < fast.size(); ++i) REQUIRE(fast[i] == 99);
      }
    }
  }
  force_portable(false);
}

TEST_CASE("thresholds at the edges of a wide accumulator range, and near float ties") {
  // A channel whose boundaries fall on exact ties: y = A / 4, z = y, P = 3:
  // code = nearbyint(3 A / 4) changes where 3A/4 = 0.5, 1.5, 2.5 (ties to even).
  FoldedChannel f{0.25f, 0.0f, 1.0f, 0.0f};
  ActThresholds th = fold_thresholds({f}, 2, -1000000000, 1000000000);
  for (int32_t a = -10; a <= 10; ++a) {
    int32_t A[1] = {a};
    uint8_t code[1];
    apply_thresholds_ref(th, A, 1, 1, code);
    CHECK(int(code[0]) == folded_code(a, f, 3.0f));
  }
  // Wide range: the sentinel side.
  int32_t A[2] = {-1000000000, 1000000000};
  uint8_t code[2];
  apply_thresholds_ref(th, A, 1, 2, code);
  CHECK(int(code[0]) == 0);
  CHECK(int(code[1]) == 3);
  // Decreasing channel over the same range.
  f.bn_scale = -1.0f;
  f.shift = 1.0f;
  th = fold_thresholds({f}, 2, -1000000000, 1000000000);
  for (int32_t a : {-1000000000, -5, -1, 0, 1, 2, 3, 4, 5, 1000000000}) {
    int32_t x[1] = {a};
    apply_thresholds_ref(th, x, 1, 1, code);
    CHECK(int(code[0]) == folded_code(a, f, 3.0f));
  }
}

TEST_CASE("folded codes equal the engine's batch norm (eval) + quantizer on y = A * scale") {
  // The layer computes aq = Q_a(clamp(BN(y), 0, 1)); its code is aq * P.
  Rng rng(22);
  const int64_t C = 24, HW = 2001;
  const int abits = 2;
  Channels p = random_channels(rng, C, abits, 2);
  for (float& s : p.scale) s = 1.0f / 9.0f;  // one scale per layer in the float engine
  BatchNorm op;
  op.training = false;
  op.fuse_activation(FusedActivation::quantize, abits);
  Tensor rm({C}), rv({C});
  Var gamma(Tensor({C})), beta(Tensor({C}));
  for (int64_t c = 0; c < C; ++c) rm[c] = p.mean[c], rv[c] = p.var[c], gamma.data[c] = p.gamma[c], beta.data[c] = p.beta[c];
  Var x(Tensor({1, C, 1, HW}));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < HW; ++i) x.data[c * HW + i] = float(int32_t(i) - 1000) * p.scale[c];
  Tape tape;
  NoGrad no_grad(tape);
  Var& y = op.forward(x, gamma, beta, rm, rv, tape);
  std::vector<FoldedChannel> ch =
      fold_batchnorm(p.scale.data(), p.gamma.data(), p.beta.data(), p.mean.data(), p.var.data(), op.eps, C);
  ActThresholds th = fold_thresholds(ch, abits, -1000, 1000);
  std::vector<int32_t> A(C * HW);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < HW; ++i) A[c * HW + i] = int32_t(i) - 1000;
  std::vector<uint8_t> codes(C * HW);
  apply_thresholds(th, A.data(), 1, HW, codes.data());
  int64_t wrong = 0;
  for (int64_t i = 0; i < C * HW; ++i) wrong += int(codes[i]) != int(std::nearbyint(y.data[i] * 3.0f));
  CHECK(wrong == 0);
}

TEST_CASE("fold_batchnorm and fold_thresholds reject bad parameters") {
  const float one = 1.0f, zero = 0.0f, nan = std::nanf(""), neg = -1.0f;
  CHECK_THROWS_WITH(fold_batchnorm(&one, &one, &one, &one, &zero, 0.0f, 1), Catch::Contains("var + eps"));
  CHECK_THROWS_WITH(fold_batchnorm(&one, &nan, &one, &one, &one, 1e-5f, 1), Catch::Contains("channel 0"));
  CHECK_THROWS_AS(fold_batchnorm(&one, &one, &one, &one, &neg, 1e-5f, 1), Error);
  CHECK_THROWS_AS(fold_batchnorm(&one, &one, &one, &one, &one, -1.0f, 1), Error);
  std::vector<FoldedChannel> ch(1);
  CHECK_THROWS_AS(fold_thresholds(ch, 2, 5, 4), Error);
  CHECK_THROWS_AS(fold_thresholds(ch, 2, -2147483647, 0), Error);
  CHECK_THROWS_AS(fold_thresholds(ch, 9, 0, 4), Error);
}
