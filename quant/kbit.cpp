#include "quant/kbit.h"

#include "engine/error.h"

namespace taper {

float quant_steps(int k, const char* what) {
  check(k >= kMinQuantBits && k <= kMaxQuantBits, what, ": bit width must be ", kMinQuantBits,
        "..", kMaxQuantBits, ", got ", k);
  return static_cast<float>((1 << k) - 1);
}

// Q_k(x) = nearbyint((2^k - 1) x) / (2^k - 1), round-half-to-even.
float quantize_k_ref(float x, int k) {
  const float n = quant_steps(k, "quantize_k");
  return std::nearbyint(n * x) / n;
}

}  // namespace taper
