// One training step: see train_step.h.
#include "models/train_step.h"

#include <cmath>

#include "engine/comm.h"
#include "engine/error.h"
#include "engine/profiler.h"
#include "models/data_parallel.h"

namespace taper {

namespace {

// The data-parallel version of compute_gradients (models/data_parallel.h):
// x and labels are the global batch, the same on every rank.
StepResult compute_gradients_sharded(Model& model, std::vector<ParamGroup>& groups, SoftmaxCrossEntropy& loss_op,
                                     const Var& x, const std::vector<int64_t>& labels, Tape& tape,
                                     const LogitsReader& read_logits) {
  static ShardBuffers shard;  // steps run on the main thread only (MPI_THREAD_FUNNELED)
  take_shard(x.data, labels, shard);
  const double n_r = static_cast<double>(shard.labels.size()), B = static_cast<double>(labels.size());
  {
    ProfileScope scope("optimizer", "zero_grad");
    zero_grad(groups);
  }
  Var& logits = model.forward(shard.x, tape);
  Var& loss = loss_op.forward(logits, shard.labels, tape);
  // [this rank's share of the global mean loss, images correct], summed over the ranks below.
  double sums[2] = {loss.data[0] * n_r / B, static_cast<double>(count_correct(logits.data, shard.labels))};
  if (read_logits) read_logits(logits);
  shard.seed.resize(loss.data.shape());
  shard.seed[0] = static_cast<float>(n_r / B);
  tape.backward(loss, shard.seed);
  {
    ProfileScope scope("allreduce", "gradients");
    allreduce_gradients(groups, shard.flat);
    allreduce_sum(sums, 2);
  }
  StepResult r;
  r.loss = sums[0];
  r.finite = std::isfinite(r.loss);  // the same on every rank: a NaN anywhere is a NaN in the sum
  r.correct = static_cast<int64_t>(sums[1]);
  return r;
}

}  // namespace

StepResult compute_gradients(Model& model, std::vector<ParamGroup>& groups, SoftmaxCrossEntropy& loss_op,
                             Var& x, const std::vector<int64_t>& labels, Tape& tape,
                             const LogitsReader& read_logits) {
  check(tape.recording(), "compute_gradients: the tape does not record (a NoGrad guard is active)");
  if (comm_size() > 1) return compute_gradients_sharded(model, groups, loss_op, x, labels, tape, read_logits);
  {
    ProfileScope scope("optimizer", "zero_grad");
    zero_grad(groups);
  }
  Var& logits = model.forward(x, tape);
  Var& loss = loss_op.forward(logits, labels, tape);
  StepResult r;
  r.loss = loss.data[0];
  r.finite = std::isfinite(r.loss);
  // Everything read from the logits is read here: backward releases them.
  r.correct = count_correct(logits.data, labels);
  if (read_logits) read_logits(logits);
  tape.backward(loss);
  return r;
}

StepResult train_step(Model& model, Optimizer& opt, SoftmaxCrossEntropy& loss_op, Var& x,
                      const std::vector<int64_t>& labels, Tape& tape, const LogitsReader& read_logits) {
  StepResult r = compute_gradients(model, opt.groups, loss_op, x, labels, tape, read_logits);
  if (r.finite) {
    ProfileScope scope("optimizer", "step");
    opt.step();
  }
  return r;
}

}  // namespace taper
