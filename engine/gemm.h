// SGEMM — the one matrix-multiply entry point of taper's kernels.
//
//   C = alpha * op(A) * op(B) + beta * C        (all row-major)
//
//   op(A) is (M, K): A itself stored (M, K) with row stride lda, or, when
//                    transA, A stored (K, M) with row stride lda, transposed.
//   op(B) is (K, N): likewise, stored (K, N) or, when transB, (N, K).
//   C is (M, N) with row stride ldc.
//
// beta == 0 means C is only written, never read (it may hold garbage or NaN),
// as in BLAS. The product runs Eigen's packed GEMM kernel with packing
// buffers that each thread keeps (from the tensor pool), so a warm caller
// allocates nothing. Called from inside a parallel loop (engine/parallel.h) it runs on
// the calling thread; called outside one with more than one thread set (see
// set_num_threads) and enough work, the threads split the larger of M and N.
// sgemm_ref is the plain triple loop the tests hold it to.
#pragma once

#include <cstdint>

namespace taper {

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);

// Reference: the same contract as sgemm, one dot product per element of C,
// accumulated in double.
void sgemm_ref(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
               int64_t ldc);

}  // namespace taper
