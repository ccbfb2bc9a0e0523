// Parallel loops on taper's own thread pool (engine/parallel.cpp).
//
// The pool is T - 1 persistent worker threads plus the thread that calls a
// loop, which runs part 0 itself; T is set_num_threads(). A loop's parts are
// static: thread t always gets the same contiguous slice (split_range, the
// same split as OpenMP's schedule(static)), so a run with the same seed and
// thread count is bit-for-bit repeatable. Threads never write the same
// memory: reductions go to per-thread slots (thread_index()) that are summed
// in thread order afterwards.
//
// Idle threads wait as engine/wait_policy.h says: poll, then yield the core,
// then sleep. taper used OpenMP's `parallel for` before; libgomp's
// millisecond spinning collapsed two processes sharing the cores (see
// docs/benchmarks.md, "Two processes on one machine").
//
// The pool belongs to the thread that last called set_num_threads (or that
// first used it): on any other thread (the data loader's prefetch thread,
// say), and inside a part, a loop runs its parts one after the other on the
// calling thread, each with its own thread_index(), so results are the same.
// An exception thrown by a part is rethrown by the loop, after every part
// has finished.
#pragma once

#include <atomic>
#include <cstdint>

namespace taper {

// Sets the number of threads for taper's kernels, n in 1..1024; the calling
// thread becomes the pool's owner. Not inside a loop.
void set_num_threads(int n);
// The pool's size: set_num_threads' n, or before any call OMP_NUM_THREADS if
// set, else the number of CPUs.
int num_threads();
// The index of the calling thread's part inside a loop (0 outside).
int thread_index();
// Whether the caller runs inside a part of a loop.
bool in_parallel();

// Runs part(ctx, t) for every t in [0, num_threads()) as described above.
void run_parts(void (*part)(void* ctx, int t), void* ctx);

template <typename Part>
void run_parts(const Part& part) {  // part(t)
  run_parts([](void* ctx, int t) { (*static_cast<const Part*>(ctx))(t); },
            const_cast<void*>(static_cast<const void*>(&part)));
}

// Loops touching fewer elements than this run on one thread: starting a
// parallel loop costs microseconds, more than a small elementwise loop takes.
inline constexpr int64_t kMinParallelWork = int64_t(1) << 15;

// Splits [0, n) into `parts` contiguous ranges; range i is [begin, end).
inline void split_range(int64_t n, int parts, int i, int64_t& begin, int64_t& end) {
  int64_t base = n / parts, extra = n % parts;
  begin = i * base + (i < extra ? i : extra);
  end = begin + base + (i < extra ? 1 : 0);
}

// Whether a loop over n items with `parallel` set runs on the pool.
inline bool goes_parallel(int64_t n, bool parallel) {
  return parallel && n > 1 && num_threads() > 1 && !in_parallel();
}

// Runs body(i) for every i in [0, n): split statically over the threads when
// `parallel` holds and more than one thread is set, on the calling thread
// otherwise (also when called from inside a loop: taper never nests them).
template <typename Body>
void parallel_for(int64_t n, bool parallel, const Body& body) {
  if (goes_parallel(n, parallel)) {
    const int T = num_threads();
    run_parts([&](int t) {
      int64_t begin, end;
      split_range(n, T, t, begin, end);
      for (int64_t i = begin; i < end; ++i) body(i);
    });
  } else {
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

// Elementwise loops: body(begin, end) once per thread over contiguous slices
// of [0, n) (split_range), or once over all of it on the calling thread. The
// body's own loop over local pointers is what the compiler vectorizes; a
// per-index lambda with a conditional store would not be.
template <typename Body>
void parallel_for_range(int64_t n, bool parallel, const Body& body) {
  if (goes_parallel(n, parallel)) {
    const int T = num_threads();
    run_parts([&](int t) {
      int64_t begin, end;
      split_range(n, T, t, begin, end);
      body(begin, end);
    });
  } else {
    body(int64_t(0), n);
  }
}

// Items of very different cost (decoding files): body(i) for every i in
// [0, n), threads taking `chunk` items at a time in whatever order they come
// free. Only for bodies whose result does not depend on which thread runs
// which item (thread_index() is not stable here).
template <typename Body>
void parallel_for_dynamic(int64_t n, int64_t chunk, const Body& body) {
  if (goes_parallel(n, true)) {
    std::atomic<int64_t> next{0};
    run_parts([&](int) {
      for (;;) {
        const int64_t begin = next.fetch_add(chunk);
        if (begin >= n) break;
        const int64_t end = begin + chunk < n ? begin + chunk : n;
        for (int64_t i = begin; i < end; ++i) body(i);
      }
    });
  } else {
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

}  // namespace taper
