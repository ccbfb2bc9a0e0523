// Max pooling on codes (quant/pool_codes.h): the fast path equals the reference.
#include <catch2/catch.hpp>
#include <vector>

#include "engine/rng.h"
#include "quant/cpu_features.h"
#include "quant/pool_codes.h"

using namespace taper;

namespace {

void check_pool(Rng& rng, int64_t H, int64_t W, int64_t k, int64_t s, int64_t pad) {
  const int64_t OH = (H + 2 * pad - k) / s + 1, OW = (W + 2 * pad - k) / s + 1;
  std::vector<uint8_t> x(H * W), ref(OH * OW, 77), got(OH * OW + 64, 77);
  for (auto& c : x) c = static_cast<uint8_t>(rng.below(256));
  maxpool_codes_ref(x.data(), H, W, k, s, pad, OH, OW, ref.data());
  maxpool_codes(x.data(), H, W, k, s, pad, OH, OW, got.data());
  INFO(H << "x" << W << " k " << k << " s " << s << " pad " << pad << " " << int_kernel_name());
  REQUIRE(std::vector<uint8_t>(got.begin(), got.begin() + OH * OW) == ref);
  for (int64_t i = OH * OW; i < OH * OW + 64; ++i) REQUIRE(got[i] == 77);  // nothing written past the output
}

}  // namespace

TEST_CASE("maxpool_codes equals maxpool_codes_ref (both paths, 2x2/2 and other windows)") {
  for (bool portable : {false, true}) {
    force_portable(portable);
    Rng rng(portable ? 3 : 4);
    // 2x2 stride 2: even and odd sizes, rows shorter and longer than one
    // 32-output step (vgg7-fmnist: 28, 14, 7).
    for (int64_t H : {2, 3, 7, 14, 28})
      for (int64_t W : {2, 5, 7, 14, 28, 63, 64, 65, 130}) check_pool(rng, H, W, 2, 2, 0);
    check_pool(rng, 9, 9, 3, 2, 1);
    check_pool(rng, 8, 11, 3, 1, 1);
    check_pool(rng, 6, 6, 2, 1, 0);
    check_pool(rng, 7, 7, 2, 2, 1);
  }
  force_portable(false);
}

TEST_CASE("maxpool_codes_ref: a hand-made 4x4 plane") {
  const uint8_t x[16] = {0, 1, 2, 3,  //
                         3, 0, 1, 0,  //
                         0, 0, 2, 2,  //
                         1, 0, 0, 1};
  uint8_t y[4];
  maxpool_codes_ref(x, 4, 4, 2, 2, 0, 2, 2, y);
  CHECK(y[0] == 3);
  CHECK(y[1] == 3);
  CHECK(y[2] == 1);
  CHECK(y[3] == 2);
}
