#include "apps/run_data.h"

#include "data/loader.h"
#include "data/registry.h"
#include "data/split.h"
#include "engine/comm.h"
#include "engine/error.h"
#include "layers/loss.h"
#include "models/checkpoint.h"

#include <nlohmann/json.hpp>

namespace taper::app {

void load_run_split(const std::string& data, int64_t limit, double val_split, uint64_t seed, Dataset& train,
                    Dataset& val) {
  Dataset all = load_dataset(data, "train");
  if (limit > 0 && limit < all.n) {
    std::vector<int64_t> first(limit);
    for (int64_t i = 0; i < limit; ++i) first[i] = i;
    all = subset(all, first);
  }
  split_validation(all, val_split, seed, train, val);
}

static std::vector<double> json_doubles(const std::string& text, const std::string& what) {
  try {
    return nlohmann::json::parse(text).get<std::vector<double>>();
  } catch (const nlohmann::json::exception&) {
    fail(what, " is not a list of numbers");
  }
}

Transform checkpoint_transform(const SafeTensors& st) {
  Transform t;
  t.mean = json_doubles(checkpoint_meta(st, "normalize_mean"), st.source + ": normalize_mean");
  t.std = json_doubles(checkpoint_meta(st, "normalize_std"), st.source + ": normalize_std");
  return t;
}

namespace {

// One evaluation pass over all of d on this process: the sum of per-image
// losses, the number correct and the number of images; each batch's logits
// go to on_logits when given.
void evaluate_local(const ForwardFn& forward, const Dataset& d, const Transform& transform, int batch,
                    double& loss_sum, int64_t& correct, int64_t& count, const LogitsFn& on_logits = nullptr) {
  loss_sum = 0.0, correct = 0, count = 0;
  if (d.n == 0) return;
  LoaderOptions lo;
  lo.batch_size = batch;
  lo.transform = transform;
  BatchLoader loader(d, lo);
  loader.start_epoch(0);
  Tape tape;
  NoGrad no_grad(tape);
  SoftmaxCrossEntropy ce;
  Var x, logits;
  std::vector<int64_t> labels;
  while (loader.next(x.data, labels)) {
    logits.data.copy_from(forward(x));
    loss_sum += static_cast<double>(ce.forward(logits, labels, tape).data[0]) * labels.size();
    correct += count_correct(logits.data, labels);
    count += static_cast<int64_t>(labels.size());
    if (on_logits) on_logits(logits.data, labels);
  }
}

}  // namespace

EvalResult evaluate(const ForwardFn& forward, const Dataset& d, const Transform& transform, int batch,
                    const LogitsFn& on_logits) {
  EvalResult r;
  if (d.n == 0) return r;
  double loss_sum = 0.0;
  int64_t correct = 0;
  evaluate_local(forward, d, transform, batch, loss_sum, correct, r.count, on_logits);
  r.loss = loss_sum / r.count;
  r.acc = static_cast<double>(correct) / r.count;
  return r;
}

EvalResult evaluate(Model& model, const Dataset& d, const Transform& transform, int batch,
                    const LogitsFn& on_logits) {
  EvalResult r;
  if (d.n == 0) return r;
  double loss_sum = 0.0;
  int64_t correct = 0;
  model.set_training(false);
  Tape tape;
  NoGrad no_grad(tape);
  const ForwardFn forward = [&](Var& x) -> const Tensor& { return model.forward(x, tape).data; };
  if (comm_size() == 1) {
    evaluate_local(forward, d, transform, batch, loss_sum, correct, r.count, on_logits);
  } else {
    // Data parallel: each rank evaluates its contiguous share of the images
    // (evaluation is per image, so any split gives the same predictions),
    // and the sums are all-reduced; every rank gets the same result.
    int64_t begin, end;
    comm_shard(d.n, begin, end);
    std::vector<int64_t> mine(static_cast<size_t>(end - begin));
    for (int64_t i = begin; i < end; ++i) mine[i - begin] = i;
    evaluate_local(forward, subset(d, mine), transform, batch, loss_sum, correct, r.count);
    allreduce_sum(&loss_sum, 1);
    int64_t counts[2] = {correct, r.count};
    allreduce_sum(counts, 2);
    correct = counts[0], r.count = counts[1];
  }
  r.loss = loss_sum / r.count;
  r.acc = static_cast<double>(correct) / r.count;
  return r;
}

}  // namespace taper::app
