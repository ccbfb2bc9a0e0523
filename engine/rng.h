// Rng — a small seeded random number generator (xoshiro256**, seeded through
// splitmix64). Same seed, same sequence, on every machine: taper never uses
// std::random distributions, whose output differs between standard libraries.
// Independent streams (per epoch, per sample) come from Rng(seed, stream).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace taper {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0, uint64_t stream = 0);

  uint64_t next_u64();
  float uniform();                      // [0, 1), 24 random bits
  float uniform(float lo, float hi);    // [lo, hi)
  float normal();                       // standard normal (Box-Muller)
  uint64_t below(uint64_t n);           // uniform integer in [0, n), unbiased
  void shuffle(std::vector<int64_t>& v);  // Fisher-Yates

  // The full state as text and back, for checkpoints ("s0 s1 s2 s3" hex).
  std::string state() const;
  void set_state(const std::string& text);  // throws Error on bad text

 private:
  std::array<uint64_t, 4> s_;
  bool has_spare_ = false;
  float spare_ = 0.0f;
};

}  // namespace taper
