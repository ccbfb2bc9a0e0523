#include "engine/rng.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "engine/error.h"

namespace taper {

static uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

Rng::Rng(uint64_t seed, uint64_t stream) {
  uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL + 0x632be59bd9b4e019ULL);
  for (auto& s : s_) s = splitmix64(x);
}

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Rng::uniform() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }

float Rng::uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }

float Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // Box-Muller in double; u1 in (0, 1] so log never sees 0.
  double u1 = (static_cast<double>(next_u64() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  double u2 = static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0);
  double r = std::sqrt(-2.0 * std::log(u1));
  double a = 2.0 * M_PI * u2;
  spare_ = static_cast<float>(r * std::sin(a));
  has_spare_ = true;
  return static_cast<float>(r * std::cos(a));
}

uint64_t Rng::below(uint64_t n) {
  if (n == 0) return 0;
  // Rejection sampling: drop the top partial block so every value is equally likely.
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return x % n;
}

void Rng::shuffle(std::vector<int64_t>& v) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
}

std::string Rng::state() const {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%016llx %016llx %016llx %016llx",
                (unsigned long long)s_[0], (unsigned long long)s_[1], (unsigned long long)s_[2],
                (unsigned long long)s_[3]);
  std::string out = buf;
  if (has_spare_) {
    std::snprintf(buf, sizeof buf, " %a", static_cast<double>(spare_));
    out += buf;
  }
  return out;
}

void Rng::set_state(const std::string& text) {
  std::istringstream is(text);
  std::array<uint64_t, 4> s{};
  for (auto& w : s) {
    std::string word;
    check(static_cast<bool>(is >> word) && word.size() == 16 &&
              word.find_first_not_of("0123456789abcdef") == std::string::npos,
          "bad RNG state '", text, "': expected four 16-digit hex words");
    w = std::stoull(word, nullptr, 16);
  }
  std::string spare;
  bool has_spare = static_cast<bool>(is >> spare);
  double spare_value = 0.0;
  if (has_spare) {
    char* end = nullptr;
    spare_value = std::strtod(spare.c_str(), &end);
    check(end && *end == '\0', "bad RNG state '", text, "': bad spare normal '", spare, "'");
  }
  std::string extra;
  check(!(is >> extra), "bad RNG state '", text, "': unexpected '", extra, "'");
  s_ = s;
  has_spare_ = has_spare;
  spare_ = static_cast<float>(spare_value);
}

}  // namespace taper
