#include "engine/wait_policy.h"

#include <sched.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>

#include "engine/error.h"

namespace taper {

WaitPolicy parse_wait_policy(const char* omp_wait_policy, const char* taper_spin_us) {
  WaitPolicy p;
  p.spin_us = kDefaultSpinUs;
  if (taper_spin_us) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(taper_spin_us, &end, 10);
    check(*taper_spin_us && !*end && errno == 0 && v >= 0 && v <= 1000000,
          "TAPER_SPIN_US=\"", taper_spin_us,
          "\": expected microseconds of yielding before a waiting thread sleeps, 0..1000000");
    p.spin_us = v;
  }
  if (omp_wait_policy) {
    std::string v(omp_wait_policy);
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (v == "passive") p.mode = WaitMode::Passive;
    else if (v == "active") p.mode = WaitMode::Active;
    else
      fail("OMP_WAIT_POLICY=\"", omp_wait_policy,
           "\": expected passive or active (or leave it unset for taper's default, see docs/benchmarks.md)");
  }
  return p;
}

const WaitPolicy& wait_policy() {
  static const WaitPolicy p = parse_wait_policy(std::getenv("OMP_WAIT_POLICY"), std::getenv("TAPER_SPIN_US"));
  return p;
}

std::string describe(const WaitPolicy& p) {
  switch (p.mode) {
    case WaitMode::Passive: return "passive (sleep at once)";
    case WaitMode::Active: return "active (poll, never sleep)";
    case WaitMode::Yield: break;
  }
  return "yield (poll, then yield for " + std::to_string(p.spin_us) + " us, then sleep)";
}

void yield_thread() { sched_yield(); }

int64_t monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace taper
