// Data parallelism: N processes (the ranks of engine/comm.h, started by
// mpirun) train one model on one global batch (docs/distributed.md).
//
// Every rank loads the same global batch (same loader, seed and augmentation
// draws, whatever N is) and computes on its own contiguous shard of it
// (comm_shard). Each rank's loss is its share of the global mean,
//   L = (1/B) sum over all B images = sum over ranks of (n_r / B) * mean_r,
// so backward is seeded with n_r / B; batch norm all-reduces its statistics
// (layers/batchnorm.h); the gradients are then summed over the ranks in one
// MPI_Allreduce of one flat buffer, and every rank applies the same update.
// One process (N = 1) never comes here: its step is unchanged.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/autograd.h"
#include "engine/optimizer.h"

namespace taper {

// Buffers reused from step to step (one per training loop).
struct ShardBuffers {
  Var x;                        // (n_r, C, H, W) this rank's rows of the global batch
  std::vector<int64_t> labels;  // (n_r)
  Tensor seed;                  // the loss's gradient seed, n_r / B
  std::vector<float> flat;      // every gradient, one after the other, for the all-reduce
};

// This rank's rows [begin, end) of the global batch x (B, C, H, W) and its labels.
void take_shard(const Tensor& x, const std::vector<int64_t>& labels, ShardBuffers& shard);

// Sums the gradients of every parameter in `groups` over the ranks, through
// one flat buffer (one MPI_Allreduce per step).
void allreduce_gradients(std::vector<ParamGroup>& groups, std::vector<float>& flat);

}  // namespace taper
