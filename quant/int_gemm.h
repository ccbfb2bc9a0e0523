// Integer GEMM of a quantized conv/linear layer on codes (mission.md,
// "Deployment: the integer form of a quantized layer").
//
//   C[m][j] = A_mj = sum_r (2 q_mr - L) p_rj        exact, int32
//
// q (M, K): k-bit weight codes of output channel m (quant/pack.h; 2q - L is
// the odd integer weight, k = 1: 2q - 1), p (K, n): a-bit activation codes
// (unsigned, 0..P, P = 2^a - 1) of n output positions ("pixels"). For a conv
// layer, row r of p is one (c, kh, kw) of the im2col matrix (quant/int_conv.h),
// for a linear layer one input feature and j one sample.
//
// Two kernels, chosen per layer when its weights are prepared (once, at load):
//
// - IntKernel::dot (any k = 1..8): AVX-512 VNNI vpdpbusd, u8 activation codes
//   x s8 weights, 64 multiply-adds per instruction. k <= 7: the s8 weight is
//   2q - L (|2q - L| <= 127). k = 8 (L = 255 does not fit s8): the offset
//   trick, w' = q - 128 in -128..127 and 2q - 255 = 2 w' + 1, so
//   A = 2 sum w' p + sum p (sum p is the column sum of the code matrix).
//   Column layout ("col4"): rows in groups of 4, each pixel's 4 codes
//   of a group in one 32-bit word:
//     col[((r / 4) * ldn + j) * 4 + r % 4] = p[r][j]        (u8)
//   rows K..Kp-1 (Kp = K rounded up to 4) and columns n..ldn-1 are 0.
//   Weights: resident as the codes (M, Kp) packed at k bits, wpk (code
//   m Kp + r of the stream; padding codes 0), expanded to s8 per block of
//   rows inside each call (quant/dot_weights.h).
//
// - IntKernel::bitplane (any k; the fast path for k * a <= 4): weights as k
//   bit planes Q_b and activations as a bit planes P_l (q = sum_b 2^b Q_b,
//   p = sum_l 2^l P_l), and
//     sum_r q_r p_r = sum_{b,l} 2^(b+l) popcount(Q_b & P_l),   A = 2 sum q p - L sum p,
//   one AND + one VPOPCNTQ + one add per 64 rows x 8 columns per plane pair.
//   Column layout ("colq"): WB rows per WB-bit word (WB = word, 64 or 32),
//   bit r % WB of a word:
//     colq[((r / WB) * a + l) * ldn + j] bit (r % WB) = bit l of p[r][j]
//   (rows K..WB*KW-1 and columns n..ldn-1 are 0).
//   Weights: wq[weight_word(w, m, b, r / WB)] bit (r % WB) = bit b of q[m][r]
//   (words of WB bits), rows in blocks of R = tile_rows (the AVX-512
//   tile's height; the last block shorter), each block's words in the
//   order the tile reads them, column word c, plane b, row i:
//     weight_word(m, b, c) = m0 k KW + (c k + b) R' + (m - m0),
//     m0 = m - m % R, R' = min(R, M - m0).
//   WB = 32 where it wastes fewer padding rows (K mod 64 in 1..32, e.g.
//   K = 144: 5 words of 32 bits instead of 3 of 64) and k * a <= 4 (the
//   pairs with a specialized AVX-512 tile); WB = 64 otherwise.
//
// ldn (the column stride) is a multiple of 16 (int_gemm_ldn). Padding rows
// and columns are zero codes, so they add nothing (zero is an activation
// code; a conv's zero padding is exact for the same reason).
//
// Both kernels run on AVX-512 (VNNI, VPOPCNTDQ) when the CPU has it, on
// portable loops otherwise (quant/cpu_features.h); int_gemm_ref is the plain
// definition every path must equal exactly.
#pragma once

#include <cstdint>
#include <vector>

namespace taper {

enum class IntKernel { dot, bitplane };

// The kernel that is faster for these bits and K (rows of the GEMM: a
// conv's IC/groups KH KW, a linear layer's inputs): bitplane when k a <= 2
// (w1a1, w1a2, w2a1), and when k a <= 4 (w1a3, w1a4, w2a2, w3a1, w4a1) for
// K < 256; dot otherwise. Per 512 products, bitplane costs k a (AND,
// POPCNT, add) triples over two vector ports, dot 8 vpdpbusd on the one
// port that runs them. Measured on the reference layers (docs/benchmarks.md,
// "Packed conv kernels", 1 thread): w1a2 bitplane 1.3-1.6x faster than dot
// everywhere; w2a2 dot 1.1-1.3x faster at K >= 288 (vgg7-fmnist, resnet20
// stage 3), bitplane up to 1.1x at K = 144 (resnet20's 16-channel 3x3 layers).
IntKernel preferred_int_kernel(int wbits, int abits, int64_t K);
const char* int_kernel_label(IntKernel k);  // "dot" / "bitplane"

// Weights prepared once for one kernel (the layouts above).
struct IntGemmWeights {
  IntKernel kernel = IntKernel::dot;
  int wbits = 0, abits = 0;
  int64_t M = 0, K = 0;
  int64_t Kp = 0;              // dot: K rounded up to 4
  int word = 64;               // bitplane: bits per column/weight word, 64 or 32
  int64_t KW = 0;              // bitplane: words per row
  int tile_rows = 1;           // bitplane: rows per weight block (bitplane_tile_rows)
  std::vector<uint8_t> wpk;    // dot: codes (M, Kp) packed at wbits, packed_size(M Kp, wbits) bytes
  std::vector<uint64_t> wq;    // bitplane: (M, wbits, KW) words of `word` bits (storage in uint64)
  // Bytes of weights held between calls (the dot kernel's per-thread s8
  // scratch, quant/dot_weights.h, is not counted: it is at most
  // kDotScratchBytes per thread, whatever the layer).
  int64_t resident_bytes() const { return int64_t(wpk.size()) + 8 * int64_t(wq.size()); }
};

// bitplane: bits per column/weight word for K rows (IntGemmWeights::word):
// 32 where it wastes fewer padding rows (K mod 64 in 1..32: K = 144 takes 5
// words of 32 bits instead of 3 of 64) for the (k, a) with a specialized
// tile (k a <= 4); 64 otherwise.
inline int bitplane_word_bits(int wbits, int abits, int64_t K) {
  return wbits * abits <= 4 && K % 64 != 0 && K % 64 <= 32 ? 32 : 64;
}

// bitplane: the rows of the AVX-512 tile specialized for (wbits, abits)
// and column words of `word` bits, which the weights' blocks follow: at most
// 24 accumulators of LV = wbits + abits - 1 shifts, 24 / (2 LV) rows of 16
// pixels in two vectors (64-bit words), min(8, 24 / LV) rows of 16 pixels
// in one vector (32-bit words). 1 for the pairs without one (wbits * abits > 4).
constexpr int bitplane_tile_rows(int wbits, int abits, int word) {
  return wbits * abits > 4 ? 1
         : word == 64     ? 24 / (2 * (wbits + abits - 1))
         : 24 / (wbits + abits - 1) < 8 ? 24 / (wbits + abits - 1) : 8;
}

// Index of weight word (m, b, c) in wq, in words of w.word bits (the layout above).
inline int64_t weight_word(const IntGemmWeights& w, int64_t m, int b, int64_t c) {
  const int64_t R = w.tile_rows, m0 = m - m % R, rows = R < w.M - m0 ? R : w.M - m0;
  return m0 * w.wbits * w.KW + (c * w.wbits + b) * rows + (m - m0);
}

// codes (M, K) row-major, each < 2^wbits. Throws Error for bits outside
// 1..8, or K so large that int32 could overflow (2 K L P must stay below
// 2^31).
IntGemmWeights prepare_int_gemm(const uint8_t* codes, int64_t M, int64_t K, int wbits, int abits,
                                IntKernel kernel);

// Column stride for n columns: n rounded up to 16.
inline int64_t int_gemm_ldn(int64_t n) { return (n + 15) / 16 * 16; }
// Bytes of a column buffer with stride ldn for these weights' kernel.
int64_t int_gemm_col_bytes(const IntGemmWeights& w, int64_t ldn);

// Builds the column buffer (layout of w.kernel, col_bytes bytes, zero
// padding included) from codes p(r, j) = p[r * rs + j * js]: rs = n, js = 1
// for a (K, n) matrix; rs = 1, js = K for a linear layer's (n, K) input.
void pack_int_gemm_cols(const IntGemmWeights& w, const uint8_t* p, int64_t rs, int64_t js, int64_t n,
                        uint8_t* col, int64_t ldn);

// C (M, n) with row stride ldc = A from the prepared weights and a column
// buffer. Splits the rows over threads when called outside a parallel
// region and the work is large.
void int_gemm(const IntGemmWeights& w, const uint8_t* col, int64_t ldn, int64_t n, int32_t* C,
              int64_t ldc);

// Scalar reference: codes q (M, K), p (K, n) row-major; C (M, n), stride ldc.
void int_gemm_ref(const uint8_t* q, int wbits, int64_t M, int64_t K, const uint8_t* p, int64_t n,
                  int32_t* C, int64_t ldc);

}  // namespace taper
