// Checks on the real data sets, when scripts/get-data.sh has installed them
// (otherwise each case prints a WARN and checks nothing). The loaders are
// covered without real data by the other test_data_* files.
#include <catch2/catch.hpp>
#include <filesystem>

#include "data/registry.h"
#include "engine/error.h"

using namespace taper;

namespace {

// True when data_dir()/name/probe (or probe.gz) exists; else prints a WARN.
bool installed(const std::string& name, const std::string& probe) {
  const std::string path = data_dir() + "/" + name + "/" + probe;
  if (std::filesystem::exists(path) || std::filesystem::exists(path + ".gz")) return true;
  WARN(name << " not installed (" << path
            << " missing): real-data check skipped; run scripts/get-data.sh " << name);
  return false;
}

std::vector<int64_t> class_counts(const Dataset& d) {
  std::vector<int64_t> counts(d.classes, 0);
  for (int64_t l : d.labels) ++counts[l];
  return counts;
}

}  // namespace

TEST_CASE("real data: Fashion-MNIST") {
  if (!installed("fashion-mnist", "train-images-idx3-ubyte")) return;
  Dataset train = load_dataset("fashion-mnist", "train"),
          test = load_dataset("fashion-mnist", "test");
  CHECK(train.n == 60000);
  CHECK(test.n == 10000);
  CHECK(train.channels == 1);
  CHECK(train.height == 28);
  CHECK(train.width == 28);
  CHECK(train.labels[0] == 9);  // the first training image is an ankle boot
  CHECK(class_counts(train) == std::vector<int64_t>(10, 6000));
  CHECK(class_counts(test) == std::vector<int64_t>(10, 1000));
}

TEST_CASE("real data: MNIST") {
  if (!installed("mnist", "train-images-idx3-ubyte")) return;
  Dataset train = load_dataset("mnist", "train"), test = load_dataset("mnist", "test");
  CHECK(train.n == 60000);
  CHECK(test.n == 10000);
  CHECK(train.height == 28);
  CHECK(train.labels[0] == 5);  // the first training digit is a 5
  CHECK(test.labels[0] == 7);
}

TEST_CASE("real data: CIFAR-10") {
  if (!installed("cifar10", "data_batch_1.png")) return;
  Dataset train = load_dataset("cifar10", "train"), test = load_dataset("cifar10", "test");
  CHECK(train.n == 50000);
  CHECK(test.n == 10000);
  CHECK(class_counts(train) == std::vector<int64_t>(10, 5000));
  CHECK(class_counts(test) == std::vector<int64_t>(10, 1000));
  // Test image 0: a cat (label 3) whose first pixel is (158, 112, 49).
  const int64_t plane = 32 * 32;
  CHECK(test.labels[0] == 3);
  CHECK(int(test.image(0)[0]) == 158);
  CHECK(int(test.image(0)[plane]) == 112);
  CHECK(int(test.image(0)[2 * plane]) == 49);
  CHECK(train.labels[0] == 6);  // data_batch_1 starts with a frog
}
