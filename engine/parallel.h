// OpenMP helpers. taper parallelizes the outermost independent loop of a
// kernel with one `#pragma omp parallel for schedule(static)`; static
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

// Loops touching fewer elements than this run on one thread (an OpenMP
// `if` clause): starting a parallel region costs microseconds, more than a
// small elementwise loop takes.
inline constexpr int64_t kMinParallelWork = int64_t(1) << 15;

// Splits [0, n) into `parts` contiguous ranges; range i is [begin, end).
inline void split_range(int64_t n, int parts, int i, int64_t& begin, int64_t& end) {
  int64_t base = n / parts, extra = n % parts;
  begin = i * base + (i < extra ? i : extra);
  end = begin + base + (i < extra ? 1 : 0);
}

}  // namespace taper
