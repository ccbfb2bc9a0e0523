#include "engine/comm.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "engine/error.h"

#ifdef TAPER_HAVE_MPI
#include <mpi.h>
#endif

namespace taper {

namespace {

int g_rank = 0, g_size = 1, g_local_size = 1;
bool g_started = false;  // comm_init called MPI_Init_thread

// The world size mpirun announces to its children (Open MPI, or any launcher
// speaking PMI/PMIx); 0 when not started by a launcher.
int launcher_world_size() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"}) {
    if (const char* v = std::getenv(var)) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return 0;
}

#ifdef TAPER_HAVE_MPI
// MPI counts are int: reduce a long buffer in slices.
template <typename T>
void allreduce_slices(T* x, int64_t n, MPI_Datatype type) {
  if (!g_started || g_size == 1) return;
  const int64_t slice = INT_MAX / 2;
  for (int64_t at = 0; at < n; at += slice) {
    const int count = static_cast<int>(std::min(slice, n - at));
    MPI_Allreduce(MPI_IN_PLACE, x + at, count, type, MPI_SUM, MPI_COMM_WORLD);
  }
}
#endif

}  // namespace

bool comm_built_with_mpi() {
#ifdef TAPER_HAVE_MPI
  return true;
#else
  return false;
#endif
}

void comm_init(int* argc, char*** argv) {
  const int launched = launcher_world_size();
#ifdef TAPER_HAVE_MPI
  if (launched == 0 || g_started) return;
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  g_started = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  MPI_Comm node;  // the ranks that share this machine's memory, hence its cores
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &g_local_size);
  MPI_Comm_free(&node);
  // A failing rank ends the job (the default handler aborts); say so in
  // messages rather than hang.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
#else
  (void)argc, (void)argv;
  check(launched <= 1, "this taper was built without MPI, but it was started by mpirun with ", launched,
        " processes; rebuild with Open MPI installed (scripts/install-deps.sh, cmake -DTAPER_MPI=ON) or run "
        "one process without mpirun");
#endif
}

void comm_finalize() {
#ifdef TAPER_HAVE_MPI
  if (g_started) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
    g_started = false;
  }
#endif
}

void comm_abort(int code) {
#ifdef TAPER_HAVE_MPI
  if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  comm_finalize();
  std::exit(code);
}

int comm_rank() { return g_rank; }
int comm_size() { return g_size; }
int comm_local_size() { return g_local_size; }

// One body for every element type: MPI's datatype for T, or nothing without MPI.
template <typename T>
void allreduce_any(T* x, int64_t n) {
#ifdef TAPER_HAVE_MPI
  const MPI_Datatype type = std::is_same_v<T, double> ? MPI_DOUBLE
                            : std::is_same_v<T, float> ? MPI_FLOAT
                                                       : MPI_INT64_T;
  allreduce_slices(x, n, type);
#else
  (void)x, (void)n;
#endif
}

void allreduce_sum(double* x, int64_t n) { allreduce_any(x, n); }
void allreduce_sum(float* x, int64_t n) { allreduce_any(x, n); }
void allreduce_sum(int64_t* x, int64_t n) { allreduce_any(x, n); }

void comm_barrier() {
#ifdef TAPER_HAVE_MPI
  if (g_started && g_size > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void comm_shard(int64_t n, int64_t& begin, int64_t& end) {
  const int64_t size = g_size, r = g_rank;
  const int64_t base = n / size, extra = n % size;
  begin = r * base + std::min(r, extra);
  end = begin + base + (r < extra ? 1 : 0);
}

}  // namespace taper
