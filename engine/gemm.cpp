#include "engine/gemm.h"

#include <Eigen/Core>

#include "engine/tensor.h"

namespace taper {

namespace {

using Stride = Eigen::OuterStride<>;
using ConstStridedMap = Eigen::Map<const MatrixRM, Eigen::Unaligned, Stride>;
using StridedMap = Eigen::Map<MatrixRM, Eigen::Unaligned, Stride>;

// C = alpha * a * b + beta * C for any Eigen expressions a (M, K), b (K, N).
// Eigen recognizes `alpha * (a * b)` and hands alpha to its GEMM kernel, so
// no temporary is formed; `noalias` says C does not overlap A or B.
template <typename LhsT, typename RhsT>
void gemm_into(const LhsT& a, const RhsT& b, float alpha, float beta, StridedMap& c) {
  if (beta == 0.0f) {
    c.noalias() = alpha * (a * b);
  } else {
    if (beta != 1.0f) c *= beta;
    c.noalias() += alpha * (a * b);
  }
}

}  // namespace

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc) {
  if (M == 0 || N == 0) return;
  StridedMap c(C, M, N, Stride(ldc));
  if (K == 0) {  // op(A) op(B) is all zeros
    if (beta == 0.0f) c.setZero();
    else c *= beta;
    return;
  }
  // The stored matrices: A is (M, K) or (K, M), B is (K, N) or (N, K).
  ConstStridedMap a(A, transA ? K : M, transA ? M : K, Stride(lda));
  ConstStridedMap b(B, transB ? N : K, transB ? K : N, Stride(ldb));
  if (!transA && !transB) gemm_into(a, b, alpha, beta, c);
  else if (!transA && transB) gemm_into(a, b.transpose(), alpha, beta, c);
  else if (transA && !transB) gemm_into(a.transpose(), b, alpha, beta, c);
  else gemm_into(a.transpose(), b.transpose(), alpha, beta, c);
}

void sgemm_ref(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
               int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        float a = transA ? A[k * lda + i] : A[i * lda + k];  // op(A)[i, k]
        float b = transB ? B[j * ldb + k] : B[k * ldb + j];  // op(B)[k, j]
        acc += double(a) * b;
      }
      float prior = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
      C[i * ldc + j] = static_cast<float>(alpha * acc) + prior;
    }
}

}  // namespace taper
