// Synchronized batch norm under mpirun (run by CTest through
// tests/mpi/mpirun.sh with 2 and 3 ranks): each rank holds a shard of one
// global batch; forward output, running statistics, dx of its shard and the
// all-reduced gamma/beta gradients must equal those of one batch norm over the
// whole batch, computed on every rank without synchronization as reference.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "engine/comm.h"
#include "layers/batchnorm.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

// Only the summation order differs (per-rank sums, then MPI's sum of them).
constexpr double kSyncTol = 2e-5;

namespace {

// Rows [begin, end) of the batch dimension of t.
Tensor rows(const Tensor& t, int64_t begin, int64_t end) {
  Shape s = t.shape();
  const int64_t per = t.numel() / s[0];
  s[0] = end - begin;
  Tensor out(s);
  for (int64_t i = 0; i < out.numel(); ++i) out[i] = t[begin * per + i];
  return out;
}

void check_close(const Tensor& got, const Tensor& want, const char* what) {
  INFO(what << " on rank " << comm_rank() << " of " << comm_size());
  REQUIRE(got.shape() == want.shape());
  double worst = 0.0;
  for (int64_t i = 0; i < got.numel(); ++i)
    worst = std::max(worst, std::abs(double(got[i]) - double(want[i])) / (1.0 + std::abs(double(want[i]))));
  CHECK(worst < kSyncTol);
}

void run_case(Shape shape, FusedActivation act, uint64_t seed) {
  const int64_t N = shape[0], C = shape[1];
  Tensor x_all = random_tensor(shape, seed, -2.0f, 2.0f);
  Tensor dy_all = random_tensor(shape, seed + 1);
  Tensor gamma0 = random_tensor({C}, seed + 2, 0.5f, 1.5f), beta0 = random_tensor({C}, seed + 3, -0.2f, 0.6f);

  // The reference: one batch norm over all N images, on this rank alone.
  Var x_ref(x_all.clone(), true), g_ref(gamma0.clone(), true), b_ref(beta0.clone(), true);
  Tensor rm_ref = Tensor::full({C}, 0.0f), rv_ref = Tensor::full({C}, 1.0f);
  BatchNorm ref;
  ref.sync = false;
  ref.fuse_activation(act, 2);
  Tensor y_ref;
  {
    Tape tape;
    Var& y = ref.forward(x_ref, g_ref, b_ref, rm_ref, rv_ref, tape);
    y_ref = y.data.clone();  // backward releases the output
    tape.backward(y, dy_all);
  }

  // This rank's shard, synchronized.
  int64_t begin, end;
  comm_shard(N, begin, end);
  Var x(rows(x_all, begin, end), true), g(gamma0.clone(), true), b(beta0.clone(), true);
  Tensor rm = Tensor::full({C}, 0.0f), rv = Tensor::full({C}, 1.0f);
  BatchNorm bn;
  bn.fuse_activation(act, 2);
  Tape tape;
  Var& y = bn.forward(x, g, b, rm, rv, tape);
  check_close(y.data, rows(y_ref, begin, end), "forward output");
  check_close(rm, rm_ref, "running mean");
  check_close(rv, rv_ref, "running variance");
  tape.backward(y, rows(dy_all, begin, end));
  check_close(x.grad, rows(x_ref.grad, begin, end), "dx");
  allreduce_sum(g.grad.data(), C);  // as the data-parallel step does with every gradient
  allreduce_sum(b.grad.data(), C);
  check_close(g.grad, g_ref.grad, "dgamma");
  check_close(b.grad, b_ref.grad, "dbeta");
}

}  // namespace

TEST_CASE("synchronized batch norm over the ranks equals one batch norm over the whole batch") {
  REQUIRE(comm_size() > 1);  // this test means nothing in one process
  for (FusedActivation act : {FusedActivation::none, FusedActivation::relu, FusedActivation::quantize}) {
    run_case({7, 3, 5, 4}, act, 11);  // N not divisible by the ranks: unequal shards
    run_case({16, 5}, act, 21);       // (N, C) after a linear layer
  }
}

int main(int argc, char** argv) {
  comm_init(&argc, &argv);
  const int failed = Catch::Session().run(argc, argv);
  comm_finalize();
  return failed ? 1 : 0;
}
