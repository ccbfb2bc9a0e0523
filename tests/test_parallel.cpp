// taper's thread pool (engine/parallel.h) and its waiting policy
// (engine/wait_policy.h). CTest runs this file twice: with the default
// policy, and as test_parallel_passive with OMP_WAIT_POLICY=passive, where
// every wait sleeps, so a lost wake-up would hang the stress case (CTest's
// timeout turns that into a failure). Catch's assertions are not
// thread-safe: the parts record what they see, the test checks it afterwards.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/wait_policy.h"

using namespace taper;

TEST_CASE("parallel_for runs every index once, each slice on its own thread") {
  for (int T : {1, 2, 3, 5}) {
    set_num_threads(T);
    REQUIRE(num_threads() == T);
    for (int64_t n : {0, 1, 2, 3, 7, 64, 1001}) {
      std::vector<int> hits(n, 0), thread(n, -1), inside(n, -1);
      parallel_for(n, true, [&](int64_t i) {
        ++hits[i];
        thread[i] = thread_index();
        inside[i] = in_parallel();
      });
      for (int64_t i = 0; i < n; ++i) {
        REQUIRE(hits[i] == 1);
        REQUIRE(inside[i] == (n > 1 && T > 1));
        if (n > 1 && T > 1) {  // the static split: slice t is split_range(n, T, t)
          int64_t b, e;
          split_range(n, T, thread[i], b, e);
          REQUIRE((b <= i && i < e));
        }
      }
    }
  }
  CHECK_FALSE(in_parallel());
  CHECK(thread_index() == 0);
}

TEST_CASE("parallel_for_range and parallel_for_dynamic cover [0, n) exactly") {
  set_num_threads(3);
  const int64_t n = 10007;
  std::vector<int> a(n, 0), b(n, 0);
  std::atomic<int> calls{0};
  parallel_for_range(n, true, [&](int64_t begin, int64_t end) {
    ++calls;
    for (int64_t i = begin; i < end; ++i) ++a[i];
  });
  CHECK(calls == 3);
  parallel_for_dynamic(n, 7, [&](int64_t i) { ++b[i]; });
  for (int64_t i = 0; i < n; ++i) REQUIRE((a[i] == 1 && b[i] == 1));
}

TEST_CASE("a loop inside a part runs on the calling thread") {
  set_num_threads(2);
  std::vector<int> outer(2, -1), still_inside(2, -1);
  std::vector<std::vector<int>> inner(2, std::vector<int>(5, -1));
  parallel_for(2, true, [&](int64_t i) {
    outer[i] = thread_index();
    parallel_for(5, true, [&](int64_t j) { inner[i][j] = thread_index(); });
    still_inside[i] = in_parallel();
  });
  for (int i = 0; i < 2; ++i) {
    CHECK(outer[i] == i);
    CHECK(still_inside[i] == 1);
    for (int j = 0; j < 5; ++j) CHECK(inner[i][j] == i);
  }
}

TEST_CASE("an exception in a part is rethrown by the loop, and the pool keeps working") {
  set_num_threads(2);
  for (int bad : {0, 1}) {  // thrown on the calling thread, then on a worker
    std::atomic<int> ran{0};
    CHECK_THROWS_WITH(parallel_for(2, true,
                                   [&](int64_t i) {
                                     ++ran;
                                     if (i == bad) throw std::runtime_error("part failed");
                                   }),
                      "part failed");
    CHECK(ran == 2);  // every part finished before the loop returned
  }
  std::atomic<int64_t> sum{0};
  parallel_for(1000, true, [&](int64_t i) { sum += i; });
  CHECK(sum == 999 * 1000 / 2);
}

TEST_CASE("on a thread that does not own the pool, parts run there in order, same indices") {
  set_num_threads(3);
  std::vector<int> thread(9, -1);
  std::vector<std::thread::id> who(9);
  bool inside_after = true;
  std::thread other([&] {
    parallel_for(9, true, [&](int64_t i) {
      thread[i] = thread_index();
      who[i] = std::this_thread::get_id();
    });
    inside_after = in_parallel();
  });
  const std::thread::id other_id = other.get_id();
  other.join();
  CHECK_FALSE(inside_after);
  for (int64_t i = 0; i < 9; ++i) {
    CHECK(who[i] == other_id);
    CHECK(thread[i] == i / 3);  // split_range(9, 3, t): three per part
  }
}

TEST_CASE("many short loops in a row: no lost wake-up, no lost part") {
  // Under OMP_WAIT_POLICY=passive (test_parallel_passive) every wait here
  // sleeps and every loop start wakes the workers.
  const int rounds = 5000;
  for (int T : {2, 3}) {
    set_num_threads(T);
    std::vector<int64_t> count(T, 0);
    for (int round = 0; round < rounds; ++round)
      parallel_for(T, true, [&](int64_t i) { ++count[i]; });
    for (int t = 0; t < T; ++t) REQUIRE(count[t] == rounds);
  }
  set_num_threads(2);
}

TEST_CASE("set_num_threads checks its argument and its caller") {
  CHECK_THROWS_AS(set_num_threads(0), Error);
  CHECK_THROWS_AS(set_num_threads(1025), Error);
  set_num_threads(2);
  CHECK_THROWS_AS(parallel_for(2, true, [&](int64_t) { set_num_threads(3); }), Error);
  CHECK(num_threads() == 2);
}

TEST_CASE("the waiting policy: defaults, OMP_WAIT_POLICY, TAPER_SPIN_US, bad values") {
  WaitPolicy p = parse_wait_policy(nullptr, nullptr);
  CHECK(p.mode == WaitMode::Yield);
  CHECK(p.spin_us == kDefaultSpinUs);
  CHECK(parse_wait_policy("passive", nullptr).mode == WaitMode::Passive);
  CHECK(parse_wait_policy("ACTIVE", nullptr).mode == WaitMode::Active);
  CHECK(parse_wait_policy(nullptr, "0").spin_us == 0);
  CHECK(parse_wait_policy(nullptr, "1000000").spin_us == 1000000);
  CHECK_THROWS_WITH(parse_wait_policy("sometimes", nullptr), Catch::Contains("OMP_WAIT_POLICY"));
  CHECK_THROWS_WITH(parse_wait_policy(nullptr, "-1"), Catch::Contains("TAPER_SPIN_US"));
  CHECK_THROWS_WITH(parse_wait_policy(nullptr, "12us"), Catch::Contains("TAPER_SPIN_US"));
  CHECK_THROWS_WITH(parse_wait_policy(nullptr, "1000001"), Catch::Contains("TAPER_SPIN_US"));
  CHECK_THROWS_WITH(parse_wait_policy(nullptr, ""), Catch::Contains("TAPER_SPIN_US"));
}

TEST_CASE("spin_until: returns true once ready, false when the budget is spent") {
  int polls = 0;
  const int ready_at = kPauseSpins + 5;  // past the pause rounds, 4 yields
  auto ready_late = [&] { return ++polls >= ready_at; };
  // A budget of 10 s: even on a loaded machine 4 yields take far less.
  CHECK(spin_until(ready_late, WaitPolicy{WaitMode::Yield, 10000000}));
  CHECK(polls == ready_at);
  auto never = [] { return false; };
  const int64_t t0 = monotonic_us();
  CHECK_FALSE(spin_until(never, WaitPolicy{WaitMode::Yield, 2000}));
  CHECK(monotonic_us() - t0 >= 2000);
  CHECK_FALSE(spin_until(never, WaitPolicy{WaitMode::Yield, 0}));
  CHECK_FALSE(spin_until(never, WaitPolicy{WaitMode::Passive, 2000}));  // no polling at all
  polls = 0;
  CHECK(spin_until(ready_late, WaitPolicy{WaitMode::Active, 0}));  // polls until ready
  CHECK(polls == ready_at);
}
