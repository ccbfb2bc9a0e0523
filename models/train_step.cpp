// One training step: see train_step.h.
#include "models/train_step.h"

#include <cmath>

#include "engine/error.h"
#include "engine/profiler.h"

namespace taper {

StepResult compute_gradients(Model& model, std::vector<ParamGroup>& groups, SoftmaxCrossEntropy& loss_op,
                             Var& x, const std::vector<int64_t>& labels, Tape& tape,
                             const LogitsReader& read_logits) {
  check(tape.recording(), "compute_gradients: the tape does not record (a NoGrad guard is active)");
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
