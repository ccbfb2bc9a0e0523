// Feature capture for the separability analysis: which layers are read
// (analysis/features.h) and Model::forward_features, which must return what
// the unfused network computes at those layers and leave forward unchanged.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "analysis/features.h"
#include "models/model.h"
#include "support/gradcheck.h"

using namespace taper;

static ModelSpec shipped(const std::string& name) {
  return load_model_file(std::string(TAPER_SOURCE_DIR) + "/models/" + name + ".json");
}

TEST_CASE("feature layers: the activation after each quantizable layer") {
  const ModelSpec vgg = shipped("vgg7-fmnist");
  std::vector<FeatureLayer> f = feature_layers(vgg);
  REQUIRE(f.size() == 7);
  CHECK(f[0].name == "conv1");
  CHECK(f[0].output_name == "act1");
  CHECK(f[0].pooled);
  CHECK(f[0].dim == 64);
  CHECK(f[5].output_name == "act6");
  CHECK(f[6].name == "fc1");
  CHECK(f[6].output_name == "act_fc1");
  CHECK_FALSE(f[6].pooled);
  CHECK(f[6].dim == 512);
  // resnet20: conv1 of a block reads its qact, conv2 the block output after the add.
  const ModelSpec res = shipped("resnet20");
  f = feature_layers(res);
  REQUIRE(f.size() == 18);
  CHECK(f[0].name == "s1b1_conv1");
  CHECK(f[0].output_name == "s1b1_act1");
  CHECK(f[1].name == "s1b1_conv2");
  CHECK(f[1].output_name == "s1b1_act2");
  CHECK(f[17].output_name == "s3b3_act2");
  CHECK(f[17].stage == 3);
}

TEST_CASE("global average pooling of conv features") {
  // (N=2, C=2, H=1, W=2): image 0 channels {1, 3} and {2, 6}, image 1 {0, 0} and {-1, 1}.
  Tensor t = Tensor::from({2, 2, 1, 2}, {1, 3, 2, 6, 0, 0, -1, 1});
  std::vector<double> rows;
  append_feature_rows(t, false, rows);
  CHECK(rows == std::vector<double>{2, 4, 0, 0});
  rows.clear();
  append_feature_rows(t, true, rows);
  CHECK(rows.size() == 8);
}

TEST_CASE("forward_features equals the unfused network's outputs, and forward is unchanged after it") {
  for (const char* name : {"vgg7-fmnist", "resnet20"}) {
    INFO(name);
    const ModelSpec spec = shipped(name);
    const Shape in = spec.input;
    for (int abits : {32, 2}) {
      BuildOptions fused_opts, plain_opts;
      fused_opts.abits = plain_opts.abits = abits;
      fused_opts.stage_bits = plain_opts.stage_bits = std::vector<int>(spec.num_stages, 2);
      plain_opts.fuse = false;
      Model fused(spec, fused_opts), plain(spec, plain_opts);
      fused.init(3);
      plain.init(3);
      fused.set_training(false);
      plain.set_training(false);
      Var x(testing::random_tensor({3, in[0], in[1], in[2]}, 17));
      std::vector<int> layers;
      for (const FeatureLayer& f : feature_layers(spec)) layers.push_back(f.output);
      layers.push_back(static_cast<int>(spec.layers.size()) - 1);  // the logits
      layers.push_back(1);                                          // a batch norm fused with its activation
      std::vector<Tensor> a = fused.forward_features(x, layers);
      std::vector<Tensor> b = plain.forward_features(x, layers);
      REQUIRE(a.size() == layers.size());
      for (size_t k = 0; k + 1 < layers.size(); ++k) {
        INFO("layer " << spec.layers[layers[k]].name);
        REQUIRE(a[k].same_shape(b[k]));
        double max_abs = 0.0, max_diff = 0.0;
        for (int64_t i = 0; i < a[k].numel(); ++i) {
          max_diff = std::max(max_diff, double(std::fabs(a[k][i] - b[k][i])));
          max_abs = std::max(max_abs, double(std::fabs(a[k][i])));
        }
        CHECK(max_diff <= 1e-5);
        CHECK(max_abs > 0.0);
      }
      // The fused batch norm's output is its activation's; the plain one's is not.
      CHECK(a.back().same_shape(b.back()));
      Tape tape;
      NoGrad no_grad(tape);
      Tensor logits = fused.forward(x, tape).data.clone();
      const Tensor& from_features = a[layers.size() - 2];
      REQUIRE(logits.same_shape(from_features));
      CHECK(std::equal(logits.data(), logits.data() + logits.numel(), from_features.data()));
      // A second call reads the same values (the release plan was restored).
      std::vector<Tensor> again = fused.forward_features(x, {layers[0]});
      CHECK(std::equal(again[0].data(), again[0].data() + again[0].numel(), a[0].data()));
    }
  }
}
