#include "engine/gemm.h"

#include <algorithm>

#include <Eigen/Core>

#include "engine/parallel.h"
#include "engine/tensor.h"

namespace taper {

namespace {

namespace ei = Eigen::internal;

// Eigen's GEMM (Goto's algorithm: pack a panel of A and a block of B, then a
// register-blocked kernel) called below its expression layer, so that the
// packing buffers are ours. Through a Map expression Eigen allocates them
// with malloc on every call above 128 KB, and its multi-threaded path allocates a
// shared one per call; here each thread keeps its own pair, from the tensor
// pool, grown when a bigger product needs more, and reused by every call on
// that thread afterwards: a warm training step makes no allocation.
class PooledBlocking : public ei::level3_blocking<float, float> {
 public:
  // Blocking of an (M, N) row-major result: Eigen computes the transposed,
  // column-major product C^T = op(B)^T op(A)^T, whose rows are N and columns M.
  PooledBlocking(int64_t M, int64_t N, int64_t K) {
    Eigen::Index kc = K, mc = N, nc = M;
    ei::computeProductBlockingSizes<float, float, 1, Eigen::Index>(kc, mc, nc, 1);
    m_kc = kc, m_mc = mc, m_nc = nc;
    thread_local Tensor block_a, block_b;  // (mc*kc) and (kc*nc) floats
    block_a.resize(Shape{static_cast<int64_t>(mc * kc)});
    block_b.resize(Shape{static_cast<int64_t>(kc * nc)});
    m_blockA = block_a.data();
    m_blockB = block_b.data();
  }
};

template <int AOrder, int BOrder>
void gemm_seq(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float* C, int64_t ldc) {
  PooledBlocking blocking(M, N, K);
  ei::general_matrix_matrix_product<Eigen::Index, float, AOrder, false, float, BOrder, false,
                                    Eigen::RowMajor, 1>::run(M, N, K, A, lda, B, ldb, C, 1, ldc,
                                                             alpha, blocking);
}

// C (M, N) += alpha op(A) op(B) on the calling thread. A row-major (M, K) is
// Eigen's RowMajor lhs; a transposed one, stored (K, M), is its ColMajor lhs
// with the same stride. Likewise B.
void gemm_add(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  constexpr int R = Eigen::RowMajor, Cm = Eigen::ColMajor;
  if (!transA && !transB) gemm_seq<R, R>(M, N, K, alpha, A, lda, B, ldb, C, ldc);
  else if (!transA && transB) gemm_seq<R, Cm>(M, N, K, alpha, A, lda, B, ldb, C, ldc);
  else if (transA && !transB) gemm_seq<Cm, R>(M, N, K, alpha, A, lda, B, ldb, C, ldc);
  else gemm_seq<Cm, Cm>(M, N, K, alpha, A, lda, B, ldb, C, ldc);
}

// Products with less work than this per thread run on one thread (Eigen's own
// heuristic for its threads).
constexpr double kMinWorkPerThread = 50000.0;
constexpr int64_t kSplitAlign = 16;  // thread slices start on a multiple of this

}  // namespace

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc) {
  if (M == 0 || N == 0) return;
  // C = beta C first (beta == 0 writes zeros, never reading C), then C += alpha op(A) op(B).
  for (int64_t i = 0; i < M; ++i) {
    float* ci = C + i * ldc;
    if (beta == 0.0f) std::fill(ci, ci + N, 0.0f);
    else if (beta != 1.0f)
      for (int64_t j = 0; j < N; ++j) ci[j] *= beta;
  }
  if (K == 0) return;  // op(A) op(B) is all zeros

  // Several threads split the larger of M and N into contiguous slices; each
  // packs its own operands, so no thread writes another's memory, and the
  // slices are the same every run (same thread count, same result).
  const int T = in_parallel() ? 1 : num_threads();
  const double work = double(M) * double(N) * double(K);
  if (T == 1 || work < kMinWorkPerThread * T) {
    gemm_add(transA, transB, M, N, K, alpha, A, lda, B, ldb, C, ldc);
    return;
  }
  const bool split_m = M >= N;
  const int64_t extent = split_m ? M : N;
  const int64_t blocks = (extent + kSplitAlign - 1) / kSplitAlign;
  parallel_for(T, true, [&](int64_t t) {
    int64_t first, last;
    split_range(blocks, T, static_cast<int>(t), first, last);
    const int64_t b0 = first * kSplitAlign, b1 = std::min(extent, last * kSplitAlign);
    if (b0 >= b1) return;
    if (split_m)  // rows b0..b1 of op(A) and of C
      gemm_add(transA, transB, b1 - b0, N, K, alpha, transA ? A + b0 : A + b0 * lda, lda, B, ldb,
               C + b0 * ldc, ldc);
    else  // columns b0..b1 of op(B) and of C
      gemm_add(transA, transB, M, b1 - b0, K, alpha, A, lda, transB ? B + b0 * ldb : B + b0, ldb,
               C + b0, ldc);
  });
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
