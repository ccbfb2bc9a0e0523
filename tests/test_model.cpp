// The model builder: fused batch norm + activation agrees bit for bit with
// the separate ops, in training and evaluation mode, for ReLU and quantized
// activations, forward and backward.
#include <catch2/catch.hpp>
#include <cstring>

#include "engine/rng.h"
#include "layers/loss.h"
#include "models/model.h"
#include "quant/policy.h"

using namespace taper;

namespace {

struct Result {
  Tensor logits;
  std::vector<Tensor> grads;
};

Result run(const std::string& name, const std::string& wbits, int abits, bool fuse, bool train) {
  ModelSpec spec = load_model_file(std::string(TAPER_SOURCE_DIR) + "/models/" + name + ".json");
  spec = apply_width(spec, 0.25);
  BuildOptions options{parse_wbits(wbits, spec.num_stages), abits};
  options.fuse = fuse;
  Model model(spec, options);
  model.init(5);
  model.set_training(train);
  Var x(Tensor({4, spec.input[0], spec.input[1], spec.input[2]}));
  Rng rng(9);
  for (int64_t i = 0; i < x.data.numel(); ++i) x.data[i] = rng.normal();
  std::vector<int64_t> labels = {1, 0, 3, 2};
  Tape tape;
  SoftmaxCrossEntropy ce;
  Var& logits = model.forward(x, tape);
  Var& loss = ce.forward(logits, labels, tape);
  Result r;
  r.logits = logits.data.clone();  // before backward, which frees the activations
  tape.backward(loss);
  for (auto& p : model.parameters()) r.grads.push_back(p.var->grad.clone());
  return r;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.same_shape(b) && std::memcmp(a.data(), b.data(), sizeof(float) * a.numel()) == 0;
}

}  // namespace

TEST_CASE("fused batch norm + activation equals the separate ops bit for bit") {
  for (const char* model : {"vgg7-fmnist", "resnet20"})
    for (int abits : {32, 2})
      for (bool train : {true, false}) {
        INFO(model << " abits " << abits << (train ? " train" : " eval"));
        Result fused = run(model, abits == 32 ? "32" : "2", abits, true, train);
        Result plain = run(model, abits == 32 ? "32" : "2", abits, false, train);
        CHECK(same_bits(fused.logits, plain.logits));
        REQUIRE(fused.grads.size() == plain.grads.size());
        int nonzero = 0;
        for (size_t i = 0; i < fused.grads.size(); ++i) {
          CHECK(same_bits(fused.grads[i], plain.grads[i]));
          nonzero += fused.grads[i].vec().cwiseAbs().maxCoeff() > 0.0f;
        }
        CHECK(nonzero > static_cast<int>(fused.grads.size()) / 2);
      }
}
