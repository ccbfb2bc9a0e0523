#include "engine/parallel.h"

#include <omp.h>

#include <Eigen/Core>

#include "engine/error.h"

namespace taper {

void set_num_threads(int n) {
  check(n >= 1, "thread count must be at least 1, got ", n);
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
}

int num_threads() { return omp_get_max_threads(); }

int thread_index() { return omp_get_thread_num(); }

bool in_parallel() { return omp_in_parallel() != 0; }

}  // namespace taper
