// Softmax cross-entropy, the classification loss (PyTorch's
// nn.CrossEntropyLoss with mean reduction).
//   logits (N, K), labels N class indices in [0, K), loss a 0-d tensor (shape (),
//   one element): loss = (1/N) sum_n -log softmax(logits[n])[labels[n]].
#pragma once

#include <cstdint>
#include <vector>

#include "engine/autograd.h"

namespace taper {

class SoftmaxCrossEntropy : public Op {
 public:
  Var& forward(Var& logits, const std::vector<int64_t>& labels, Tape& tape);
  void backward() override;
  const char* type() const override { return "cross_entropy"; }

 private:
  Var* logits_ = nullptr;
  // Cached for backward: the softmax probabilities (N, K), which forward
  // computes anyway and the gradient is made of, and a copy of the labels
  // (N) (the caller's vector may change before backward).
  Tensor prob_;
  std::vector<int64_t> labels_;
  // (N) per-sample losses, summed in sample order for a repeatable mean.
  std::vector<double> row_loss_;
};

// How many rows of logits (N, K) have their largest value (the first one on
// ties) at the label's index.
int64_t count_correct(const Tensor& logits, const std::vector<int64_t>& labels);

}  // namespace taper
