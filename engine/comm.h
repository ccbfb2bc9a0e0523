// Comm — the processes that train one model together (data parallelism over
// MPI, started by `mpirun -np N taper ...`; docs/distributed.md).
//
// taper uses MPI, the engine clusters already run, and nothing home-made:
// MPI_Allreduce sums gradients, batch-norm statistics and evaluation counts.
// When taper is built without MPI, or runs without mpirun, there is one
// process — rank 0 of 1 — and every reduction below is the identity, so
// single-process code needs no special case.
//
// Only the main thread calls MPI (MPI_THREAD_FUNNELED); the thread pool's
// workers (engine/parallel.h) work inside each rank as usual.
#pragma once

#include <cstdint>

namespace taper {

// Starts MPI when this binary has MPI and was started by mpirun (Open MPI's
// OMPI_COMM_WORLD_SIZE, or PMI/PMIx variables); otherwise stays single-process.
// Throws Error when started by mpirun with more than one rank but built
// without MPI. Call once, first thing in main.
void comm_init(int* argc, char*** argv);
// Ends MPI if comm_init started it (idempotent).
void comm_finalize();
// Ends the whole job now (MPI_Abort, or exit) with `code`: one rank failing
// must not leave the others waiting forever in a reduction.
[[noreturn]] void comm_abort(int code);

int comm_rank();   // 0 .. comm_size() - 1
int comm_size();   // 1 without MPI
int comm_local_size();  // ranks on this machine (they share its cores); 1 without MPI
inline bool comm_is_root() { return comm_rank() == 0; }
bool comm_built_with_mpi();

// x[i] = sum over ranks of x[i], in place, on every rank. The order of the
// sum is MPI's: fixed for a given number of ranks and count, so repeated
// runs give the same bits.
void allreduce_sum(double* x, int64_t n);
void allreduce_sum(float* x, int64_t n);
void allreduce_sum(int64_t* x, int64_t n);

// Every rank waits until all ranks arrive.
void comm_barrier();

// Rank r's share [begin, end) of n items split into comm_size() contiguous
// parts, the first n % size parts one larger: the shard of a global batch.
void comm_shard(int64_t n, int64_t& begin, int64_t& end);

}  // namespace taper
