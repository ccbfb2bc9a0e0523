#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "engine/gemm.h"
#include "engine/parallel.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

// Inputs are uniform in [-1, 1), so |C| <= K and float32 round-off in a dot
// product of length K stays well below 1e-6 * K.
static constexpr float kGemmTolPerK = 2e-6f;

namespace {

struct Case {
  int64_t M, N, K;
};

// Runs sgemm and sgemm_ref on the same padded operands and compares C.
void check_against_ref(bool ta, bool tb, const Case& s, float alpha, float beta) {
  // Row strides larger than the row length, so a stride bug shows.
  const int64_t a_rows = ta ? s.K : s.M, a_cols = ta ? s.M : s.K;
  const int64_t b_rows = tb ? s.N : s.K, b_cols = tb ? s.K : s.N;
  const int64_t lda = a_cols + 3, ldb = b_cols + 5, ldc = s.N + 2;
  Tensor A = random_tensor({a_rows, lda}, 11);
  Tensor B = random_tensor({b_rows, ldb}, 12);
  Tensor C = random_tensor({s.M, ldc}, 13);
  Tensor R = C.clone();
  if (beta == 0.0f) C.fill(std::numeric_limits<float>::quiet_NaN());  // must not be read
  sgemm(ta, tb, s.M, s.N, s.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  sgemm_ref(ta, tb, s.M, s.N, s.K, alpha, A.data(), lda, B.data(), ldb, beta, R.data(), ldc);
  const float tol = kGemmTolPerK * float(s.K + 1) * (std::fabs(alpha) + std::fabs(beta));
  int bad = 0;
  for (int64_t i = 0; i < s.M; ++i)
    for (int64_t j = 0; j < s.N; ++j)
      if (!(std::fabs(C[i * ldc + j] - R[i * ldc + j]) <= tol) && bad++ < 5)
        FAIL_CHECK("transA " << ta << " transB " << tb << " M " << s.M << " N " << s.N << " K "
                             << s.K << " at (" << i << ", " << j << "): " << C[i * ldc + j]
                             << " vs ref " << R[i * ldc + j]);
  // The padding columns of C beyond N are untouched.
  for (int64_t i = 0; i < s.M; ++i)
    for (int64_t j = s.N; j < ldc; ++j)
      if (beta != 0.0f) CHECK(C[i * ldc + j] == R[i * ldc + j]);
}

}  // namespace

TEST_CASE("sgemm matches the reference loop for all transposes and odd sizes") {
  const Case cases[] = {{1, 1, 1}, {7, 5, 3}, {17, 33, 65}, {64, 49, 300}, {129, 31, 17}};
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const Case& s : cases) {
        check_against_ref(ta, tb, s, 1.0f, 0.0f);
        check_against_ref(ta, tb, s, 1.0f, 1.0f);
        check_against_ref(ta, tb, s, -0.5f, 2.0f);
      }
}

TEST_CASE("sgemm with K = 0 scales C by beta") {
  Tensor C = Tensor::full({2, 3}, 4.0f);
  sgemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.5f, C.data(), 3);
  for (int64_t i = 0; i < 6; ++i) CHECK(C[i] == 2.0f);
  sgemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.0f, C.data(), 3);
  for (int64_t i = 0; i < 6; ++i) CHECK(C[i] == 0.0f);
}

TEST_CASE("sgemm gives exact values on a small known product") {
  // [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50]
  Tensor A = Tensor::from({2, 2}, {1, 2, 3, 4}), B = Tensor::from({2, 2}, {5, 6, 7, 8});
  Tensor C({2, 2});
  sgemm(false, false, 2, 2, 2, 1.0f, A.data(), 2, B.data(), 2, 0.0f, C.data(), 2);
  CHECK(C[0] == 19.0f);
  CHECK(C[1] == 22.0f);
  CHECK(C[2] == 43.0f);
  CHECK(C[3] == 50.0f);
  // A^T * B = [1 3; 2 4] * [5 6; 7 8] = [26 30; 38 44]
  sgemm(true, false, 2, 2, 2, 1.0f, A.data(), 2, B.data(), 2, 0.0f, C.data(), 2);
  CHECK(C[0] == 26.0f);
  CHECK(C[3] == 44.0f);
}

TEST_CASE("concurrent sgemm calls from the parts of a parallel loop agree with a single call") {
  // Conv kernels call sgemm from every thread of a parallel loop, each on its
  // own matrices; the calls must not interfere.
  const int64_t M = 40, N = 37, K = 53;
  Tensor A = random_tensor({M, K}, 21), B = random_tensor({K, N}, 22);
  Tensor want({M, N});
  sgemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, want.data(), N);
  const int T = 4;
  Tensor got({T, M, N});
  set_num_threads(2);
  parallel_for(T, true, [&](int64_t t) {
    sgemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, got.data() + t * M * N, N);
  });
  for (int t = 0; t < T; ++t)
    for (int64_t i = 0; i < M * N; ++i) REQUIRE(got[t * M * N + i] == want[i]);
}
