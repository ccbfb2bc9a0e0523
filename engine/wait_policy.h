// How taper's idle threads wait (docs/benchmarks.md, "Two processes on one
// machine").
//
// A worker thread of the pool waits for the next parallel loop, and the
// calling thread waits for the workers to finish theirs, many hundreds of
// times per training step. Sleeping at once (a futex) makes every wait pay a
// wake-up, tens of microseconds on this VM; spinning for milliseconds (the
// OpenMP runtime's default) is free alone but, when two processes share the
// cores, a spinning thread holds a core while the thread it waits for is
// descheduled, and both processes collapse to a fraction of their speed.
//
// taper's default, `yield`, does both halves:
//   1. poll with the `pause` instruction for kPauseSpins rounds (a few
//      microseconds: most waits inside a step end here);
//   2. keep polling, calling sched_yield() between polls, for up to spin_us
//      microseconds: alone, a yield returns at once (nothing else is
//      runnable) and no wake-up is ever paid; on a shared core, it hands the
//      core to whoever else is runnable there, within microseconds;
//   3. then sleep until woken.
// The environment can override it (read once, the first time it is needed):
//   OMP_WAIT_POLICY=passive   sleep at once (step 3 only)
//   OMP_WAIT_POLICY=active    poll with `pause` and never yield or sleep
//   TAPER_SPIN_US=N           step 2's budget in microseconds (0..1000000),
//                             default kDefaultSpinUs
// Any other value of these two variables is an error (taper::Error).
#pragma once

#include <cstdint>
#include <string>

namespace taper {

enum class WaitMode { Yield, Passive, Active };

struct WaitPolicy {
  WaitMode mode = WaitMode::Yield;
  int64_t spin_us = 0;  // step 2's budget (Yield only)
};

inline constexpr int kPauseSpins = 200;          // ~3 us of `pause` on this CPU (15.6 ns each)
inline constexpr int64_t kDefaultSpinUs = 2000;  // about libgomp's default spin (~4.7 ms here) halved

// The policy the given variable values ask for (nullptr: unset).
WaitPolicy parse_wait_policy(const char* omp_wait_policy, const char* taper_spin_us);
// The process's policy, from the environment on first use.
const WaitPolicy& wait_policy();
std::string describe(const WaitPolicy& p);  // "yield, 2000 us before sleeping", ...

// One round of polling: the `pause` instruction (a no-op on other CPUs).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

void yield_thread();     // sched_yield()
int64_t monotonic_us();  // a steady clock, microseconds

// Steps 1 and 2: polls ready() until it holds (returns true) or the policy's
// polling budget is spent (returns ready(), the caller then sleeps).
template <typename Ready>
bool spin_until(const Ready& ready, const WaitPolicy& p) {
  if (p.mode == WaitMode::Passive) return ready();
  for (int i = 0; p.mode == WaitMode::Active || i < kPauseSpins; ++i) {
    if (ready()) return true;
    cpu_relax();
  }
  if (p.spin_us <= 0) return ready();
  const int64_t deadline = monotonic_us() + p.spin_us;
  for (int i = 1;; ++i) {
    if (ready()) return true;
    yield_thread();
    if (i % 8 == 0 && monotonic_us() > deadline) return ready();
  }
}

}  // namespace taper
