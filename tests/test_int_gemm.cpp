// Integer GEMM kernels (dot / bitplane, AVX-512 and portable) against int_gemm_ref.
#include <catch2/catch.hpp>
#include <vector>

#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/rng.h"
#include "quant/cpu_features.h"
#include "quant/int_gemm.h"

using namespace taper;

namespace {

// Runs the prepared kernel on random codes and compares with the reference.
void check_gemm(Rng& rng, int64_t M, int64_t K, int64_t n, int wbits, int abits, IntKernel kernel,
                bool transposed_input) {
  std::vector<uint8_t> q(M * K), p(K * n), pt(n * K);
  for (auto& c : q) c = static_cast<uint8_t>(rng.below(1u << wbits));
  for (int64_t r = 0; r < K; ++r)
    for (int64_t j = 0; j < n; ++j) p[r * n + j] = pt[j * K + r] = static_cast<uint8_t>(rng.below(1u << abits));
  // Extreme columns: all codes at the top (max |A|), all zero.
  if (n >= 2)
    for (int64_t r = 0; r < K; ++r) p[r * n] = pt[r] = static_cast<uint8_t>((1 << abits) - 1), p[r * n + 1] = pt[K + r] = 0;
  if (M >= 1)
    for (int64_t r = 0; r < K; ++r) q[r] = static_cast<uint8_t>((1 << wbits) - 1);
  const int64_t ldc = n + 3;
  std::vector<int32_t> ref(M * ldc, -7), got(M * ldc, -7);
  int_gemm_ref(q.data(), wbits, M, K, p.data(), n, ref.data(), ldc);
  IntGemmWeights w = prepare_int_gemm(q.data(), M, K, wbits, abits, kernel);
  const int64_t ldn = int_gemm_ldn(n);
  std::vector<uint8_t> col(int_gemm_col_bytes(w, ldn));
  if (transposed_input)
    pack_int_gemm_cols(w, pt.data(), 1, K, n, col.data(), ldn);
  else
    pack_int_gemm_cols(w, p.data(), n, 1, n, col.data(), ldn);
  int_gemm(w, col.data(), ldn, n, got.data(), ldc);
  INFO("M " << M << " K " << K << " n " << n << " w" << wbits << "a" << abits << " " << int_kernel_label(kernel)
            << " " << int_kernel_name());
  REQUIRE(got == ref);  // also: nothing written in the ldc padding
}

void check_many(uint64_t seed) {
  Rng rng(seed);
  const int64_t Ms[] = {1, 5, 6, 7, 13, 32};
  const int64_t Ks[] = {1, 3, 4, 5, 63, 64, 65, 130, 577};
  const int64_t ns[] = {1, 2, 15, 16, 17, 40, 65, 130};
  int count = 0;
  for (int wbits = 1; wbits <= 8; ++wbits)
    for (int abits : {1, 2, 3, 8}) {
      for (int t = 0; t < 6; ++t) {
        const int64_t M = Ms[rng.below(6)], K = Ks[rng.below(9)], n = ns[rng.below(8)];
        check_gemm(rng, M, K, n, wbits, abits, IntKernel::dot, t % 2);
        check_gemm(rng, M, K, n, wbits, abits, IntKernel::bitplane, t % 2);
        ++count;
      }
    }
  // A large case that runs the row split over threads.
  check_gemm(rng, 70, 1152, 200, 2, 2, IntKernel::dot, false);
  check_gemm(rng, 70, 1152, 200, 1, 2, IntKernel::bitplane, false);
  check_gemm(rng, 70, 1152, 200, 8, 8, IntKernel::dot, false);
  check_gemm(rng, 70, 1152, 200, 2, 2, IntKernel::bitplane, false);
  check_gemm(rng, 9, 1152, 200, 8, 8, IntKernel::bitplane, false);
  CHECK(count == 8 * 4 * 6);
}

}  // namespace

TEST_CASE("int_gemm equals int_gemm_ref exactly (kernels this CPU runs)") {
  set_num_threads(2);
  check_many(1);
}

TEST_CASE("int_gemm on the forced portable path equals int_gemm_ref exactly") {
  set_num_threads(2);
  force_portable(true);
  CHECK(std::string(int_kernel_name()) == "portable");
  check_many(2);
  force_portable(false);
}

TEST_CASE("bitplane tiles specialized per (weight, activation) planes equal int_gemm_ref exactly") {
  // Every (wbits, abits) with wbits * abits <= 4 has its own AVX-512 tile
  // (one accumulator per shift, MB rows x 16 pixels); M runs through every
  // row remainder of the tallest tile (12 rows), n through the column tail,
  // K through partial and several 64-bit words. Both paths.
  set_num_threads(2);
  for (bool portable : {false, true}) {
    force_portable(portable);
    Rng rng(portable ? 11 : 7);
    for (int wbits = 1; wbits <= 4; ++wbits)
      for (int abits = 1; wbits * abits <= 4; ++abits)
        for (int64_t M = 1; M <= 13; ++M) {
          const int64_t Ks[] = {9, 64, 144, 577}, ns[] = {1, 16, 37};
          check_gemm(rng, M, Ks[M % 4], ns[M % 3], wbits, abits, IntKernel::bitplane, M % 2 == 0);
        }
  }
  force_portable(false);
}

TEST_CASE("AVX-512 and portable kernels give the same integers") {
  if (!use_avx512_kernels()) {
    WARN("this CPU (or TAPER_NO_AVX512) runs only the portable kernels; the comparison is skipped");
    return;
  }
  Rng rng(5);
  const int64_t M = 19, K = 301, n = 77;
  std::vector<uint8_t> q(M * K), p(K * n);
  for (int wbits : {1, 2, 7, 8}) {
    for (auto& c : q) c = static_cast<uint8_t>(rng.below(1u << wbits));
    for (auto& c : p) c = static_cast<uint8_t>(rng.below(4));
    for (IntKernel kern : {IntKernel::dot, IntKernel::bitplane}) {
      IntGemmWeights w = prepare_int_gemm(q.data(), M, K, wbits, 2, kern);
      const int64_t ldn = int_gemm_ldn(n);
      std::vector<uint8_t> col(int_gemm_col_bytes(w, ldn));
      pack_int_gemm_cols(w, p.data(), n, 1, n, col.data(), ldn);
      std::vector<int32_t> a(M * n), b(M * n);
      int_gemm(w, col.data(), ldn, n, a.data(), n);
      force_portable(true);
      int_gemm(w, col.data(), ldn, n, b.data(), n);
      force_portable(false);
      CHECK(a == b);
    }
  }
}

TEST_CASE("prepare_int_gemm rejects bad bits, kernels, codes and overflowing K") {
  const uint8_t q[4] = {0, 1, 2, 3};
  CHECK_THROWS_AS(prepare_int_gemm(q, 1, 4, 0, 2, IntKernel::dot), Error);
  CHECK_THROWS_AS(prepare_int_gemm(q, 1, 4, 2, 9, IntKernel::dot), Error);
  CHECK_THROWS_AS(prepare_int_gemm(q, 1, 4, 1, 2, IntKernel::dot), Error);  // code 2, 3 > 1
  std::vector<uint8_t> big(20000, 0);
  CHECK_THROWS_WITH(prepare_int_gemm(big.data(), 1, 20000, 8, 8, IntKernel::dot), Catch::Contains("overflow"));
  CHECK_NOTHROW(prepare_int_gemm(big.data(), 1, 16000, 8, 8, IntKernel::dot));
}

TEST_CASE("preferred kernel: bitplane when wbits * abits <= 2, or <= 4 at K < 256") {
  CHECK(preferred_int_kernel(1, 2, 1152) == IntKernel::bitplane);
  CHECK(preferred_int_kernel(1, 1, 1152) == IntKernel::bitplane);
  CHECK(preferred_int_kernel(2, 1, 1152) == IntKernel::bitplane);
  CHECK(preferred_int_kernel(1, 4, 144) == IntKernel::bitplane);
  CHECK(preferred_int_kernel(2, 2, 144) == IntKernel::bitplane);
  CHECK(preferred_int_kernel(2, 2, 255) == IntKernel::bitplane);
  CHECK(preferred_int_kernel(2, 2, 256) == IntKernel::dot);
  CHECK(preferred_int_kernel(2, 2, 576) == IntKernel::dot);
  CHECK(preferred_int_kernel(1, 4, 576) == IntKernel::dot);
  CHECK(preferred_int_kernel(1, 8, 144) == IntKernel::dot);
  CHECK(preferred_int_kernel(2, 4, 144) == IntKernel::dot);
  CHECK(preferred_int_kernel(8, 8, 144) == IntKernel::dot);
}
