#include "apps/run_data.h"

#include "data/loader.h"
#include "data/registry.h"
#include "data/split.h"
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

EvalResult evaluate(Model& model, const Dataset& d, const Transform& transform, int batch) {
  EvalResult r;
  if (d.n == 0) return r;
  LoaderOptions lo;
  lo.batch_size = batch;
  lo.transform = transform;
  BatchLoader loader(d, lo);
  loader.start_epoch(0);
  model.set_training(false);
  Tape tape;
  NoGrad no_grad(tape);
  SoftmaxCrossEntropy ce;
  Var x;
  std::vector<int64_t> labels;
  double loss_sum = 0.0;
  int64_t correct = 0;
  while (loader.next(x.data, labels)) {
    Var& logits = model.forward(x, tape);
    loss_sum += static_cast<double>(ce.forward(logits, labels, tape).data[0]) * labels.size();
    correct += count_correct(logits.data, labels);
    r.count += static_cast<int64_t>(labels.size());
  }
  r.loss = loss_sum / r.count;
  r.acc = static_cast<double>(correct) / r.count;
  return r;
}

}  // namespace taper::app
