// One training step, written once: zero the gradients, forward, softmax
// cross-entropy, backward, optimizer update. `taper train`, `taper bench`,
// `taper forward` (gradients only) and the tests run this code.
//
//   compute_gradients:  zero_grad(groups); logits = model(x);
//                       loss = cross_entropy(logits, labels);
//                       correct = count_correct(logits, labels);
//                       read_logits(logits); backward(loss)
//   train_step:         compute_gradients with the optimizer's groups, then
//                       opt.step() when the loss is finite
//
// Under mpirun with several ranks the same call is data parallel: x and
// labels are the global batch (the same on every rank), each rank computes on
// its shard, and the gradients, loss and count are those of the global batch
// (models/data_parallel.h); read_logits then sees this rank's shard only.
//
// This is the one place a step zeroes the parameters' gradients (backward
// adds into them: docs/design.md, "The accumulate rule"). Backward releases
// the activations, the logits included ("Backward consumes the graph"), so
// whatever a caller reads from the logits it reads in read_logits, which runs
// after the loss and before backward. A step allocates nothing once warm
// (tests/test_warm_step_alloc.cpp runs it).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/autograd.h"
#include "engine/optimizer.h"
#include "layers/loss.h"
#include "models/model.h"

namespace taper {

struct StepResult {
  double loss = 0.0;    // the batch's mean cross-entropy
  int64_t correct = 0;  // images whose largest logit (the first on ties) is at the label
  bool finite = true;   // false: the loss is NaN or infinite, and train_step made no update
};

// Reads the logits (N, classes) of a step before backward frees them.
using LogitsReader = std::function<void(const Var& logits)>;

// The gradients of the mean cross-entropy of one batch, x (N, C, H, W) with
// labels (N), in the grads of every parameter in `groups`. The tape must
// record; it is empty again afterwards. The model's training flag is the
// caller's (batch statistics and dropout, or not).
StepResult compute_gradients(Model& model, std::vector<ParamGroup>& groups, SoftmaxCrossEntropy& loss_op,
                             Var& x, const std::vector<int64_t>& labels, Tape& tape,
                             const LogitsReader& read_logits = {});

// One optimizer step on one batch: compute_gradients over opt.groups, then
// opt.step() unless the loss is not finite (then the parameters stay as they
// were and the caller decides what to do; result.finite says so).
StepResult train_step(Model& model, Optimizer& opt, SoftmaxCrossEntropy& loss_op, Var& x,
                      const std::vector<int64_t>& labels, Tape& tape, const LogitsReader& read_logits = {});

}  // namespace taper
