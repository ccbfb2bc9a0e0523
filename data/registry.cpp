#include "data/registry.h"

#include <cstdlib>
#include <filesystem>

#include "data/cifar_binary.h"
#include "data/cifar_png.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "engine/error.h"

namespace taper {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kDefaultFolderSize = 224;

[[noreturn]] void not_installed(const std::string& name, const std::string& missing) {
  fail("data set '", name, "' is not installed (", missing,
       " not found); install it with: scripts/get-data.sh ", name,
       " (or set TAPER_DATA to the folder that holds ", name, "/)");
}

// An MNIST-layout file in the cache, plain or gzip'd.
std::string idx_file(const std::string& name, const std::string& dir, const std::string& file) {
  const std::string plain = dir + "/" + file;
  if (fs::exists(plain)) return plain;
  if (fs::exists(plain + ".gz")) return plain + ".gz";
  not_installed(name, plain + "[.gz]");
}

Dataset load_mnist_like(const std::string& name, const std::string& split) {
  const std::string dir = data_dir() + "/" + name;
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string images = idx_file(name, dir, prefix + "-images-idx3-ubyte");
  const std::string labels = idx_file(name, dir, prefix + "-labels-idx1-ubyte");
  return load_idx(images, labels, name, 10);
}

Dataset load_cifar10_cache(const std::string& split) {
  const std::string dir = data_dir() + "/cifar10";
  for (const char* f :
       {"data_batch_1.png", "data_batch_2.png", "data_batch_3.png", "data_batch_4.png",
        "data_batch_5.png", "test_batch.png", "train_lables.json", "test_lables.json"})
    if (!fs::exists(dir + "/" + f)) not_installed("cifar10", dir + "/" + f);
  return load_cifar10_png(dir, split);
}

// "DIR" or "DIR@SIZE" (SIZE all digits) -> dir, size.
void parse_folder(const std::string& arg, std::string& dir, int64_t& size) {
  dir = arg;
  size = kDefaultFolderSize;
  const size_t at = arg.rfind('@');
  if (at != std::string::npos && at + 1 < arg.size() &&
      arg.find_first_not_of("0123456789", at + 1) == std::string::npos) {
    dir = arg.substr(0, at);
    size = std::stoll(arg.substr(at + 1));
    check(size >= 1 && size <= 4096, "folder:", arg, ": image size ", size, ", expected 1..4096");
  }
}

Dataset load_folder(const std::string& arg, const std::string& split) {
  std::string root;
  int64_t size;
  parse_folder(arg, root, size);
  check(!root.empty(), "folder:", arg,
        ": missing directory (expected folder:DIR or folder:DIR@SIZE)");
  const std::string train = root + "/train";
  if (split == "train") return load_image_folder(train, size);
  std::string test;
  for (const char* name : {"val", "test"})
    if (fs::is_directory(root + "/" + name)) {
      test = root + "/" + name;
      break;
    }
  check(!test.empty(), root, ": no val/ or test/ folder for the test split");
  // Labels are positions in the sorted class list: both splits must list the
  // same classes or class k would mean different things.
  if (fs::is_directory(train))
    check(list_classes(train) == list_classes(test), test, ": class folders differ from ", train);
  return load_image_folder(test, size);
}

}  // namespace

std::string data_dir() {
  const char* env = std::getenv("TAPER_DATA");
  if (env && *env) return env;
  const char* home = std::getenv("HOME");
  check(home && *home, "neither TAPER_DATA nor HOME is set: cannot locate the data cache");
  return std::string(home) + "/.cache/taper";
}

Dataset load_dataset(const std::string& spec, const std::string& split) {
  check(split == "train" || split == "test", "data set '", spec, "': unknown split '", split,
        "', expected train or test");
  if (spec == "mnist" || spec == "fashion-mnist") return load_mnist_like(spec, split);
  if (spec == "cifar10") return load_cifar10_cache(split);
  const size_t colon = spec.find(':');
  if (colon != std::string::npos) {
    const std::string kind = spec.substr(0, colon), arg = spec.substr(colon + 1);
    if (kind == "cifar10-bin" || kind == "cifar100-bin" || kind == "folder")
      check(!arg.empty(), "data set '", spec, "': missing directory after '", kind, ":'");
    if (kind == "cifar10-bin") return load_cifar10_binary(arg, split);
    if (kind == "cifar100-bin") return load_cifar100_binary(arg, split);
    if (kind == "folder") return load_folder(arg, split);
  }
  fail("unknown data set '", spec, "' (expected mnist, fashion-mnist, cifar10, cifar10-bin:DIR, ",
       "cifar100-bin:DIR or folder:DIR[@SIZE])");
}

}  // namespace taper
