// OpenMP helpers. taper parallelizes the outermost independent loop of a
// kernel with parallel_for (one `#pragma omp parallel for schedule(static)`); static
// scheduling gives each thread the same slice every run, so a run with the
// same seed and thread count is bit-for-bit repeatable. Threads never write
// the same memory: reductions go to per-thread slots that are summed in
// thread order afterwards.
#pragma once

#include <cstdint>

namespace taper {

// Sets the number of threads for taper's kernels (and Eigen's GEMM). n >= 1.
void set_num_threads(int n);
int num_threads();
// The index of the calling thread inside a parallel region (0 outside).
int thread_index();
// Whether the caller runs inside an active OpenMP parallel region.
bool in_parallel();

// Loops touching fewer elements than this run on one thread (an OpenMP
// `if` clause): starting a parallel region costs microseconds, more than a
// small elementwise loop takes.
inline constexpr int64_t kMinParallelWork = int64_t(1) << 15;

// Runs body(i) for every i in [0, n): split statically over the threads (the
// same slice per thread every run) when `parallel` holds and more than one
// thread is set, on the calling thread otherwise (also when called from inside
// a parallel region: taper never nests them). The serial case never enters
// an OpenMP region, because libgomp allocates a thread team for every
// one-thread region (an `if (false)` clause included): a warm training step
// would call malloc in every small layer.
template <typename Body>
void parallel_for(int64_t n, bool parallel, const Body& body) {
  if (parallel && n > 1 && num_threads() > 1 && !in_parallel()) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) body(i);
  } else {
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

// Elementwise loops: body(begin, end) once per thread over contiguous slices
// of [0, n) (split_range), or once over all of it on the calling thread. The
// body's own loop over local pointers is what the compiler vectorizes; a
// per-index lambda with a conditional store would not be.
template <typename Body>
void parallel_for_range(int64_t n, bool parallel, const Body& body);

// Splits [0, n) into `parts` contiguous ranges; range i is [begin, end).
inline void split_range(int64_t n, int parts, int i, int64_t& begin, int64_t& end) {
  int64_t base = n / parts, extra = n % parts;
  begin = i * base + (i < extra ? i : extra);
  end = begin + base + (i < extra ? 1 : 0);
}

template <typename Body>
void parallel_for_range(int64_t n, bool parallel, const Body& body) {
  const int T = num_threads();
  if (!parallel || n < 2 || T == 1 || in_parallel()) {
    body(int64_t(0), n);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int t = 0; t < T; ++t) {
    int64_t begin, end;
    split_range(n, T, t, begin, end);
    body(begin, end);
  }
}

}  // namespace taper
