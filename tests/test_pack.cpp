// Packing of k-bit codes into the U8 stream, and grid <-> codes.
#include <catch2/catch.hpp>
#include <vector>

#include "engine/error.h"
#include "engine/rng.h"
#include "quant/binarize.h"
#include "quant/pack.h"
#include "quant/weight_quant.h"

using namespace taper;

TEST_CASE("packed_size is ceil(n k / 8)") {
  CHECK(packed_size(0, 3) == 0);
  CHECK(packed_size(1, 1) == 1);
  CHECK(packed_size(8, 1) == 1);
  CHECK(packed_size(9, 1) == 2);
  CHECK(packed_size(3, 3) == 2);  // 9 bits
  CHECK(packed_size(8, 3) == 3);
  CHECK(packed_size(5, 8) == 5);
  CHECK(packed_size(589824, 1) == 73728);
}

TEST_CASE("bit order: code i at bits i*k.., least significant bit first") {
  const uint8_t c2[5] = {1, 2, 3, 0, 2};
  uint8_t p[2];
  pack_codes(c2, 5, 2, p);
  CHECK(int(p[0]) == (1 | 2 << 2 | 3 << 4 | 0 << 6));
  CHECK(int(p[1]) == 2);  // unused high bits are zero
  const uint8_t c3[3] = {5, 6, 7};  // bits 0..8: 101 011 111 (LSB first)
  uint8_t p3[2];
  pack_codes(c3, 3, 3, p3);
  CHECK(int(p3[0]) == (5 | 6 << 3 | (7 & 3) << 6));
  CHECK(int(p3[1]) == (7 >> 2));
}

TEST_CASE("pack/unpack equal their references and round-trip, k = 1..8, many sizes") {
  Rng rng(7);
  for (int k = 1; k <= 8; ++k)
    for (int64_t n : {1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4099}) {
      std::vector<uint8_t> codes(n), back(n), back_ref(n);
      for (auto& c : codes) c = static_cast<uint8_t>(rng.below(1u << k));
      const int64_t bytes = packed_size(n, k);
      std::vector<uint8_t> fast(bytes + 1, 0xAB), ref(bytes + 1, 0xCD);
      pack_codes(codes.data(), n, k, fast.data());
      pack_codes_ref(codes.data(), n, k, ref.data());
      INFO("k " << k << " n " << n);
      CHECK(std::equal(fast.begin(), fast.begin() + bytes, ref.begin()));
      CHECK(fast[bytes] == 0xAB);  // nothing written past ceil(n k / 8)
      unpack_codes(fast.data(), n, k, back.data());
      unpack_codes_ref(ref.data(), n, k, back_ref.data());
      CHECK(back == codes);
      CHECK(back_ref == codes);
    }
}

TEST_CASE("pack_codes rejects a code that does not fit") {
  const uint8_t c[3] = {0, 4, 1};
  uint8_t p[1];
  CHECK_THROWS_AS(pack_codes(c, 3, 2, p), Error);
  CHECK_THROWS_AS(code_max(0), Error);
  CHECK_THROWS_AS(code_max(9), Error);
}

TEST_CASE("codes of quantized weights map back to the training grid bit for bit") {
  Rng rng(3);
  const int64_t rows = 5, cols = 37;
  std::vector<float> w(rows * cols), wq(rows * cols), scale(rows);
  for (auto& v : w) v = rng.normal();
  w[3] = 0.0f;
  for (int k = 2; k <= 8; ++k) {
    weight_quantize_ref(w.data(), wq.data(), rows, cols, k);
    std::vector<uint8_t> q(rows * cols);
    grid_to_codes(wq.data(), rows * cols, k, q.data(), "test");
    for (int64_t i = 0; i < rows * cols; ++i) {
      INFO("k " << k << " i " << i);
      REQUIRE(code_to_grid(q[i], k) == wq[i]);  // exact float equality
      REQUIRE(code_to_int(q[i], k) * 1.0f / float((1 << k) - 1) == Approx(wq[i]).margin(1e-6));
    }
    // Every code of the grid round-trips.
    for (int c = 0; c < (1 << k); ++c) {
      const float g = code_to_grid(c, k);
      uint8_t back;
      grid_to_codes(&g, 1, k, &back, "grid");
      CHECK(int(back) == c);
    }
  }
  binarize_ref(w.data(), wq.data(), scale.data(), rows, cols, false);
  std::vector<uint8_t> q(rows * cols);
  grid_to_codes(wq.data(), rows * cols, 1, q.data(), "test");
  CHECK(int(q[3]) == 1);  // sign(0) = +1
  for (int64_t i = 0; i < rows * cols; ++i) REQUIRE(code_to_grid(q[i], 1, scale[i / cols]) == wq[i]);
}

TEST_CASE("grid_to_codes rejects a float weight that is not on the grid") {
  const float w[2] = {1.0f / 3.0f, 0.25f};
  uint8_t q[2];
  CHECK_NOTHROW(grid_to_codes(w, 1, 2, q, "layer"));
  CHECK_THROWS_WITH(grid_to_codes(w, 2, 2, q, "layer conv3"), Catch::Contains("conv3") && Catch::Contains("weight 1"));
}
