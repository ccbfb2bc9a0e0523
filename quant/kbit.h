// The k-bit uniform quantizer on [0, 1] (DoReFa's quantize_k), the building
// block of the weight and activation quantizers.
//
//   Q_k(x) = nearbyint((2^k - 1) x) / (2^k - 1),   x in [0, 1], 1 <= k <= 8
//
// It maps [0, 1] onto the 2^k levels j / (2^k - 1), j = 0 .. 2^k - 1.
// Rounding is round-half-to-even (std::nearbyint in the default rounding
// mode), as torch.round and numpy.round do: with k = 2, x = 1/6 gives
// 3x = 0.5 -> 0, and x = 1/2 gives 1.5 -> 2, so Q_2(1/2) = 2/3.
// The product and the quotient are float32 operations in this order, as in
// PyTorch's torch.round(x * n) / n, so both give the same bits.
// Backward is straight-through (dQ/dx = 1); the callers apply it.
#pragma once

#include <cmath>
#include <cstdint>

namespace taper {

inline constexpr int kMinQuantBits = 1;
inline constexpr int kMaxQuantBits = 8;

// Buffers with at least this many elements are split over threads by
// the quantizer kernels; smaller ones run on the calling thread.
inline constexpr int64_t kQuantParallelMin = int64_t(1) << 15;

// The number of steps between levels, n = 2^k - 1, as a float.
// Throws Error unless kMinQuantBits <= k <= kMaxQuantBits; `what` names the caller.
float quant_steps(int k, const char* what);

// Scalar reference: Q_k(x) exactly as the formula above.
float quantize_k_ref(float x, int k);

// The same formula with n = 2^k - 1 precomputed, inlined into the fast
// (vectorized) loops; tests hold it to quantize_k_ref bit for bit.
// quantize_code gives the level's index j = nearbyint(n x) (an integer in
// float), the code a packed model stores; quantize_steps its value j / n.
inline float quantize_code(float x, float n) { return std::nearbyint(n * x); }
inline float quantize_steps(float x, float n) { return quantize_code(x, n) / n; }

}  // namespace taper
