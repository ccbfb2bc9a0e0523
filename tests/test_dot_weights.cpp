// The dot kernel's resident weights (quant/dot_weights.h): packed codes,
// expanded to s8 per block of rows. The expansion equals its scalar
// reference exactly on both dispatch paths (AVX-512 VBMI and portable), for
// every k, any block of rows (also blocks that start inside a byte), and
// the reference equals dot_weight of the codes the weights were prepared
// from; the k = 2 lookup table equals dot_weight code by code.
#include <catch2/catch.hpp>
#include <vector>

#include "engine/rng.h"
#include "quant/cpu_features.h"
#include "quant/dot_weights.h"
#include "quant/pack.h"

using namespace taper;

namespace {

struct PortableGuard {
  explicit PortableGuard(bool on) { force_portable(on); }
  ~PortableGuard() { force_portable(false); }
};

}  // namespace

TEST_CASE("dot weights: resident bytes are the packed codes") {
  Rng rng(11);
  for (int k = 1; k <= 8; ++k)
    for (int64_t K : {1, 4, 7, 144, 301}) {
      const int64_t M = 13;
      std::vector<uint8_t> q(M * K);
      for (auto& c : q) c = static_cast<uint8_t>(rng.below(1u << k));
      const IntGemmWeights w = prepare_int_gemm(q.data(), M, K, k, 2, IntKernel::dot);
      INFO("k " << k << " K " << K);
      CHECK(w.resident_bytes() == packed_size(M * w.Kp, k));
      if (K % 4 == 0) CHECK(w.resident_bytes() == packed_size(M * K, k));
    }
}

TEST_CASE("dot weights: expand_dot_rows equals expand_dot_rows_ref on both paths") {
  Rng rng(5);
  for (bool portable : {false, true}) {
    PortableGuard guard(portable);
    for (int k = 1; k <= 8; ++k)
      for (int64_t K : {1, 3, 4, 9, 17, 64, 144, 287}) {
        const int64_t M = 1 + int64_t(rng.below(23));
        std::vector<uint8_t> q(M * K);
        for (auto& c : q) c = static_cast<uint8_t>(rng.below(1u << k));
        const IntGemmWeights w = prepare_int_gemm(q.data(), M, K, k, 2, IntKernel::dot);
        INFO((portable ? "portable" : use_avx512_vbmi() ? "vbmi" : "no vbmi") << " k " << k << " M " << M << " K " << K);
        // Whole matrix: the reference is dot_weight of the codes, padding code 0.
        std::vector<int8_t> ref(M * w.Kp), fast(M * w.Kp + 64, 99);
        expand_dot_rows_ref(w, 0, M, ref.data());
        for (int64_t m = 0; m < M; ++m)
          for (int64_t r = 0; r < w.Kp; ++r)
            REQUIRE(int(ref[m * w.Kp + r]) == dot_weight(r < K ? q[m * K + r] : 0, k));
        expand_dot_rows(w, 0, M, fast.data());
        for (int64_t i = 0; i < M * w.Kp; ++i) REQUIRE(fast[i] == ref[i]);
        for (int64_t i = M * w.Kp; i < M * w.Kp + 64; ++i) REQUIRE(fast[i] == 99);  // nothing past the block
        // Every block [m0, m1), odd starts included.
        for (int64_t m0 = 0; m0 < M; ++m0)
          for (int64_t m1 = m0 + 1; m1 <= M; m1 += 1 + m0 % 3) {
            std::vector<int8_t> b(M * w.Kp);
            expand_dot_rows(w, m0, m1, b.data());
            for (int64_t i = 0; i < (m1 - m0) * w.Kp; ++i) REQUIRE(b[i] == ref[m0 * w.Kp + i]);
          }
      }
  }
}

TEST_CASE("dot weights: the k = 2 lookup gives dot_weight of the byte's 4 codes") {
  const int32_t* lut = dot_lut2();
  for (int b = 0; b < 256; ++b)
    for (int i = 0; i < 4; ++i)
      REQUIRE(int(int8_t(uint32_t(lut[b]) >> (8 * i))) == dot_weight((b >> (2 * i)) & 3, 2));
  CHECK(dot_weight(0, 2) == -3);
  CHECK(dot_weight(3, 2) == 3);
  CHECK(dot_weight(0, 8) == -128);
  CHECK(dot_weight(255, 8) == 127);
}

TEST_CASE("dot weights: blocks are multiples of the tile height within the scratch budget") {
  for (int64_t Kp : {4, 144, 576, 2304, 4608, 20000})
    for (int64_t M : {1, 6, 16, 64, 256, 1000}) {
      IntGemmWeights w;
      w.M = M, w.Kp = Kp;
      const int64_t rb = dot_block_rows(w, 6);
      INFO("M " << M << " Kp " << Kp << " rows " << rb);
      CHECK(rb % 6 == 0);
      CHECK(rb >= 6);
      CHECK((rb * Kp <= kDotScratchBytes || rb == 6));
    }
}
