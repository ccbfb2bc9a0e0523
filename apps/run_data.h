// The data side of a run, shared by `taper train` and `taper eval`: the
// training set cut to --limit and split into train and validation exactly as
// the run did, and one evaluation pass over a data set.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "data/dataset.h"
#include "data/transforms.h"
#include "engine/safetensors.h"
#include "models/model.h"

namespace taper::app {

// The first `limit` training images (0: all) of data set `data`, split with
// the run's seed and validation fraction.
void load_run_split(const std::string& data, int64_t limit, double val_split, uint64_t seed, Dataset& train,
                    Dataset& val);

struct EvalResult {
  double loss = 0.0;  // mean cross-entropy
  double acc = 0.0;   // fraction correct
  int64_t count = 0;  // images
};

// The normalization a checkpoint's run trained with (no augmentation).
Transform checkpoint_transform(const SafeTensors& checkpoint);

// Logits (N, classes) of a batch of images x (N, C, H, W), already transformed.
using ForwardFn = std::function<const Tensor&(Var& x)>;
// Called with each batch's logits and labels.
using LogitsFn = std::function<void(const Tensor& logits, const std::vector<int64_t>& labels)>;

// The model in evaluation mode (running statistics, no gradients) over all
// of d (under mpirun, each rank a shard; on_logits is then not called).
EvalResult evaluate(Model& model, const Dataset& d, const Transform& transform, int batch,
                    const LogitsFn& on_logits = nullptr);
// Any forward (the packed integer engine) over all of d, in one process.
EvalResult evaluate(const ForwardFn& forward, const Dataset& d, const Transform& transform, int batch,
                    const LogitsFn& on_logits = nullptr);

}  // namespace taper::app
