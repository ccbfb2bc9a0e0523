#include <catch2/catch.hpp>
#include <set>

#include "engine/error.h"
#include "quant/kbit.h"

using namespace taper;

TEST_CASE("Q_k exact values, round-half-to-even at ties") {
  // k = 2, n = 3.
  CHECK(quantize_k_ref(0.0f, 2) == 0.0f);
  CHECK(quantize_k_ref(1.0f, 2) == 1.0f);
  const float sixth = 1.0f / 6.0f, five_sixths = 5.0f / 6.0f;
  REQUIRE(3.0f * sixth == 0.5f);        // the tie is exact in float32
  CHECK(quantize_k_ref(sixth, 2) == 0.0f);            // 0.5 -> 0
  CHECK(quantize_k_ref(0.5f, 2) == 2.0f / 3.0f);      // 1.5 -> 2
  REQUIRE(3.0f * five_sixths == 2.5f);
  CHECK(quantize_k_ref(five_sixths, 2) == 2.0f / 3.0f);  // 2.5 -> 2, not 3
  CHECK(quantize_k_ref(0.4f, 2) == 1.0f / 3.0f);      // 1.2 -> 1
  // k = 1: a single threshold at 1/2, and 1/2 itself rounds down to 0.
  CHECK(quantize_k_ref(0.5f, 1) == 0.0f);
  CHECK(quantize_k_ref(0.51f, 1) == 1.0f);
  CHECK(quantize_k_ref(0.49f, 1) == 0.0f);
  // k = 3, n = 7: 7 * 0.5 = 3.5 -> 4; 7 * 0.25 = 1.75 -> 2.
  CHECK(quantize_k_ref(0.5f, 3) == 4.0f / 7.0f);
  CHECK(quantize_k_ref(0.25f, 3) == 2.0f / 7.0f);
  // x = 1/2 is a tie for every k (n is odd): n/2 = 2^(k-1) - 1/2 -> 2^(k-1), even for k >= 2.
  for (int k = 2; k <= kMaxQuantBits; ++k) {
    const float n = float((1 << k) - 1);
    CHECK(quantize_k_ref(0.5f, k) == float(1 << (k - 1)) / n);
  }
  // The fast inline form is the same formula.
  for (int k = 1; k <= kMaxQuantBits; ++k)
    for (float x : {0.0f, sixth, 0.25f, 0.5f, five_sixths, 0.9f, 1.0f})
      CHECK(quantize_steps(x, quant_steps(k, "test")) == quantize_k_ref(x, k));
}

TEST_CASE("Q_k has exactly 2^k levels j / (2^k - 1) over [0, 1]") {
  const int kSweep = 1 << 16;  // x = i / kSweep, exact in float32
  for (int k = 1; k <= kMaxQuantBits; ++k) {
    INFO("k = " << k);
    const float n = float((1 << k) - 1);
    std::set<float> levels;
    float prev = 0.0f;
    for (int i = 0; i <= kSweep; ++i) {
      const float q = quantize_k_ref(float(i) / float(kSweep), k);
      CHECK(q >= prev);  // monotone
      prev = q;
      levels.insert(q);
    }
    REQUIRE(levels.size() == size_t(1) << k);
    int j = 0;
    for (float q : levels) CHECK(q == float(j++) / n);
  }
}

TEST_CASE("Q_k rejects bit widths outside 1..8") {
  for (int k : {0, 9, 32, -1}) CHECK_THROWS_AS(quantize_k_ref(0.5f, k), Error);
  CHECK_THROWS_WITH(quant_steps(9, "conv3"), Catch::Contains("conv3") && Catch::Contains("1..8"));
}
