#include <algorithm>
#include <catch2/catch.hpp>

#include "data/loader.h"
#include "data_fixtures.h"
#include "engine/error.h"

using namespace taper;
using namespace taper::testing;

namespace {

// n samples whose label is their index.
Dataset traced(int64_t n) { return random_dataset(n, 3, 6, 5, n, 80); }

struct Epoch {
  std::vector<std::vector<int64_t>> labels;  // per batch
  std::vector<std::vector<float>> x;         // per batch, (B, C, H, W) flattened
  std::vector<Shape> shapes;
};

Epoch run_epoch(BatchLoader& loader, uint64_t epoch) {
  Epoch e;
  loader.start_epoch(epoch);
  Tensor x;
  std::vector<int64_t> labels;
  while (loader.next(x, labels)) {
    e.labels.push_back(labels);
    e.x.emplace_back(x.data(), x.data() + x.numel());
    e.shapes.push_back(x.shape());
  }
  return e;
}

std::vector<int64_t> flat(const Epoch& e) {
  std::vector<int64_t> all;
  for (const auto& b : e.labels) all.insert(all.end(), b.begin(), b.end());
  return all;
}

}  // namespace

TEST_CASE("loader: in order without shuffling, last partial batch kept") {
  Dataset d = traced(10);
  LoaderOptions o;
  o.batch_size = 4;
  BatchLoader loader(d, o);
  CHECK(loader.num_batches() == 3);
  Epoch e = run_epoch(loader, 0);
  REQUIRE(e.labels.size() == 3);
  CHECK(e.labels[0] == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(e.labels[1] == std::vector<int64_t>{4, 5, 6, 7});
  CHECK(e.labels[2] == std::vector<int64_t>{8, 9});
  CHECK(e.shapes[0] == Shape{4, 3, 6, 5});
  CHECK(e.shapes[2] == Shape{2, 3, 6, 5});
  // Pixels are the samples' bytes / 255.
  const int64_t S = d.sample_size();
  for (int64_t b = 0; b < 3; ++b)
    for (size_t k = 0; k < e.labels[b].size(); ++k)
      for (int64_t p = 0; p < S; ++p)
        REQUIRE(e.x[b][k * S + p] == static_cast<float>(d.image(e.labels[b][k])[p] / 255.0));
  // The next epoch is the same.
  CHECK(flat(run_epoch(loader, 1)) == flat(e));
}

TEST_CASE("loader: shuffled epochs visit every sample once, in a new order each epoch") {
  Dataset d = traced(37);
  LoaderOptions o;
  o.batch_size = 8;
  o.shuffle = true;
  o.seed = 3;
  BatchLoader loader(d, o);
  std::vector<int64_t> e0 = flat(run_epoch(loader, 0)), e1 = flat(run_epoch(loader, 1));
  CHECK(e0 != loader.order());  // order() is now epoch 1's
  CHECK(e1 == loader.order());
  CHECK(e0 != e1);
  for (auto e : {e0, e1}) {
    REQUIRE(e.size() == 37);
    std::sort(e.begin(), e.end());
    for (int64_t i = 0; i < 37; ++i) CHECK(e[i] == i);
  }
}

TEST_CASE("loader: the same seed gives the same batches, whatever the thread count") {
  Dataset d = traced(50);
  LoaderOptions o;
  o.batch_size = 16;
  o.shuffle = true;
  o.seed = 11;
  o.transform.augment = Augment::crop_flip;
  o.transform.pad = 2;
  o.transform.mean = {0.5, 0.4, 0.3};
  o.transform.std = {0.2, 0.25, 0.3};
  BatchLoader a(d, o);
  o.threads = 2;
  BatchLoader b(d, o);
  for (uint64_t epoch : {0, 1, 5}) {
    Epoch ea = run_epoch(a, epoch), eb = run_epoch(b, epoch);
    CHECK(ea.labels == eb.labels);
    CHECK(ea.x == eb.x);
  }
  o.seed = 12;
  BatchLoader c(d, o);
  CHECK(flat(run_epoch(c, 0)) != flat(run_epoch(a, 0)));
}

TEST_CASE("loader: batches hold exactly the transformed samples of fill_batch") {
  Dataset d = traced(20);
  LoaderOptions o;
  o.batch_size = 7;
  o.shuffle = true;
  o.seed = 4;
  o.transform.augment = Augment::crop_flip;
  BatchLoader loader(d, o);
  Epoch e = run_epoch(loader, 2);
  const std::vector<int64_t>& order = loader.order();
  for (size_t b = 0; b < e.labels.size(); ++b) {
    std::vector<int64_t> idx(order.begin() + b * 7,
                             order.begin() + std::min<size_t>(20, (b + 1) * 7));
    Tensor x;
    std::vector<int64_t> labels;
    fill_batch(d, idx, o.transform, 4, 2, 1, x, labels);
    CHECK(labels == e.labels[b]);
    CHECK(std::vector<float>(x.data(), x.data() + x.numel()) == e.x[b]);
    // And sample by sample against write_sample with the sample's own draw.
    const std::vector<float> table = pixel_table(o.transform, 3);
    std::vector<float> one(d.sample_size());
    for (size_t k = 0; k < idx.size(); ++k) {
      write_sample(d, idx[k], draw_augment(o.transform, 4, 2, idx[k]), table.data(), one.data());
      CHECK(std::equal(one.begin(), one.end(), x.data() + k * d.sample_size()));
    }
  }
}

TEST_CASE("loader: restarting an epoch midway, and an empty data set") {
  Dataset d = traced(30);
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = true;
  BatchLoader loader(d, o);
  Tensor x;
  std::vector<int64_t> labels;
  loader.start_epoch(0);
  REQUIRE(loader.next(x, labels));
  const std::vector<int64_t> first = labels;
  loader.start_epoch(1);  // drops the batch in preparation
  loader.start_epoch(0);
  REQUIRE(loader.next(x, labels));
  CHECK(labels == first);

  Dataset empty = random_dataset(0, 1, 2, 2, 1, 81);
  BatchLoader none(empty, o);
  CHECK(none.num_batches() == 0);
  none.start_epoch(0);
  CHECK_FALSE(none.next(x, labels));
}

TEST_CASE("loader: errors in the background thread reach the caller") {
  Dataset d = traced(12);
  d.labels[9] = 99;  // outside [0, 12)
  LoaderOptions o;
  o.batch_size = 4;
  BatchLoader loader(d, o);
  Tensor x;
  std::vector<int64_t> labels;
  loader.start_epoch(0);
  CHECK(loader.next(x, labels));
  CHECK(loader.next(x, labels));
  CHECK_THROWS_WITH(loader.next(x, labels),
                    Catch::Contains("label 99 of sample 9") && Catch::Contains("[0, 12)"));
  CHECK_THROWS_WITH(loader.next(x, labels), Catch::Contains("label 99"));
  // A new epoch clears the error; the loader shuts down cleanly afterwards.
  loader.start_epoch(1);
  CHECK(loader.next(x, labels));
}

TEST_CASE("loader: bad options and misuse are errors") {
  Dataset d = traced(5);
  LoaderOptions o;
  o.batch_size = 0;
  CHECK_THROWS_WITH(BatchLoader(d, o), Catch::Contains("batch size 0"));
  o.batch_size = 2;
  o.transform.mean = {0.5};
  o.transform.std = {0.5};
  CHECK_THROWS_WITH(BatchLoader(d, o), Catch::Contains("normalization for 1 channels"));
  o.transform = Transform{};
  BatchLoader loader(d, o);
  Tensor x;
  std::vector<int64_t> labels;
  CHECK_THROWS_WITH(loader.next(x, labels), Catch::Contains("before start_epoch"));
}

TEST_CASE("loader: destroying a loader with a batch in preparation") {
  Dataset d = traced(64);
  LoaderOptions o;
  o.batch_size = 64;
  for (int i = 0; i < 20; ++i) {
    BatchLoader loader(d, o);
    loader.start_epoch(0);
  }
  SUCCEED("no hang, no crash");
}
