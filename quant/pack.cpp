#include "quant/pack.h"

#include <cmath>
#include <cstring>

#include "engine/error.h"

namespace taper {

int code_max(int k) {
  check(k >= 1 && k <= 8, "packed codes: bits must be 1..8, got ", k);
  return (1 << k) - 1;
}

int64_t packed_size(int64_t n, int k) { return (n * k + 7) / 8; }

void grid_to_codes(const float* w, int64_t n, int k, uint8_t* codes, const char* what) {
  const int L = code_max(k);
  constexpr float kGridTolerance = 1e-5f;
  for (int64_t i = 0; i < n; ++i) {
    if (k == 1) {
      codes[i] = w[i] >= 0.0f ? 1 : 0;
      continue;
    }
    const float q = std::nearbyint((w[i] + 1.0f) * static_cast<float>(L) / 2.0f);
    if (!(q >= 0.0f && q <= L) || !(std::fabs(code_to_grid(static_cast<int>(q), k) - w[i]) <= kGridTolerance))
      fail(what, ": weight ", i, " = ", w[i], " is not on the ", k, "-bit grid (2q - ", L, ")/", L,
           " (was it produced by the ", k, "-bit weight quantizer?)");
    codes[i] = static_cast<uint8_t>(q);
  }
}

// Bit b of the stream is bit b % 8 of byte b / 8; code i is bits i*k .. i*k+k-1.
void pack_codes_ref(const uint8_t* codes, int64_t n, int k, uint8_t* packed) {
  std::memset(packed, 0, packed_size(n, k));
  for (int64_t i = 0; i < n; ++i)
    for (int j = 0; j < k; ++j) {
      const int64_t b = i * k + j;
      if ((codes[i] >> j) & 1) packed[b / 8] |= static_cast<uint8_t>(1u << (b % 8));
    }
}

void unpack_codes_ref(const uint8_t* packed, int64_t n, int k, uint8_t* codes) {
  for (int64_t i = 0; i < n; ++i) codes[i] = static_cast<uint8_t>(code_at(packed, i, k));
}

// 8 codes fill exactly k bytes: build them in a 64-bit word (little endian:
// byte 0 = bits 0..7 of the word, as the stream's order requires).
void pack_codes(const uint8_t* codes, int64_t n, int k, uint8_t* packed) {
  const int L = code_max(k);
  uint8_t bad = 0;
  for (int64_t i = 0; i < n; ++i) bad |= codes[i] & ~L;
  if (bad) {
    for (int64_t i = 0; i < n; ++i)
      if (codes[i] > L) fail("pack_codes: code ", i, " = ", int(codes[i]), " does not fit in ", k, " bits");
  }
  const int64_t blocks = n / 8;
  for (int64_t bl = 0; bl < blocks; ++bl) {
    const uint8_t* c = codes + bl * 8;
    uint64_t word = 0;
    for (int j = 0; j < 8; ++j) word |= static_cast<uint64_t>(c[j]) << (j * k);
    for (int j = 0; j < k; ++j) packed[bl * k + j] = static_cast<uint8_t>(word >> (8 * j));
  }
  const int64_t rest = n - blocks * 8;
  if (rest) pack_codes_ref(codes + blocks * 8, rest, k, packed + blocks * k);
}

void unpack_codes(const uint8_t* packed, int64_t n, int k, uint8_t* codes) {
  const int L = code_max(k);
  const int64_t blocks = n / 8;
  for (int64_t bl = 0; bl < blocks; ++bl) {
    uint64_t word = 0;
    for (int j = 0; j < k; ++j) word |= static_cast<uint64_t>(packed[bl * k + j]) << (8 * j);
    uint8_t* c = codes + bl * 8;
    for (int j = 0; j < 8; ++j) c[j] = static_cast<uint8_t>((word >> (j * k)) & L);
  }
  const int64_t rest = n - blocks * 8;
  if (rest) unpack_codes_ref(packed + blocks * k, rest, k, codes + blocks * 8);
}

}  // namespace taper
