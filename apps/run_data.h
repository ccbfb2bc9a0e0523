// The data side of a run, shared by `taper train` and `taper eval`: the
// training set cut to --limit and split into train and validation exactly as
// the run did, and one evaluation pass over a data set.
#pragma once

#include <cstdint>
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

// The model in evaluation mode (running statistics, no gradients) over all of d.
EvalResult evaluate(Model& model, const Dataset& d, const Transform& transform, int batch);

}  // namespace taper::app
