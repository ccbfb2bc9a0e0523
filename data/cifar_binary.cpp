#include "data/cifar_binary.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "engine/error.h"

namespace taper {

namespace {

constexpr int64_t kC = 3, kH = 32, kW = 32, kImage = kC * kH * kW;  // 3072

void check_split(const std::string& split, const std::string& dir) {
  check(split == "train" || split == "test", dir, ": unknown split '", split,
        "', expected train or test");
}

}  // namespace

Dataset load_cifar_binary_files(const std::vector<std::string>& paths, CifarKind kind) {
  const bool c100 = kind == CifarKind::cifar100;
  const int64_t label_bytes = c100 ? 2 : 1;
  const int64_t record = label_bytes + kImage;  // 3073 or 3074
  const int64_t classes = c100 ? 100 : 10;
  Dataset d;
  d.name = c100 ? "cifar100" : "cifar10";
  d.channels = kC;
  d.height = kH;
  d.width = kW;
  d.classes = classes;
  std::vector<uint8_t> buf;  // (records, record) the whole file
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    check(in.good(), path, ": cannot open (", std::strerror(errno), ")");
    const int64_t size = in.tellg();
    check(size > 0, path, ": empty file, expected ", record, "-byte records");
    check(size % record == 0, path, ": truncated: ", size, " bytes is not a whole number of ",
          record, "-byte CIFAR-", classes, " records");
    const int64_t count = size / record;
    buf.resize(size);
    in.seekg(0);
    in.read(reinterpret_cast<char*>(buf.data()), size);
    check(in.gcount() == size, path, ": read error after ", in.gcount(), " of ", size, " bytes");

    const int64_t first = d.n;
    d.n += count;
    d.pixels.resize(d.n * kImage);
    d.labels.resize(d.n);
    for (int64_t r = 0; r < count; ++r) {
      const uint8_t* rec = buf.data() + r * record;
      if (c100)
        check(rec[0] < 20, path, ": coarse label ", int(rec[0]), " of record ", r,
              " is outside [0, 20)");
      const int label = rec[label_bytes - 1];
      check(label < classes, path, ": label ", label, " of record ", r, " is outside [0, ", classes,
            ")");
      d.labels[first + r] = label;
      std::memcpy(d.pixels.data() + (first + r) * kImage, rec + label_bytes, kImage);
    }
  }
  return d;
}

Dataset load_cifar10_binary(const std::string& dir, const std::string& split) {
  check_split(split, dir);
  std::vector<std::string> paths;
  if (split == "train")
    for (int b = 1; b <= 5; ++b) paths.push_back(dir + "/data_batch_" + std::to_string(b) + ".bin");
  else
    paths.push_back(dir + "/test_batch.bin");
  return load_cifar_binary_files(paths, CifarKind::cifar10);
}

Dataset load_cifar100_binary(const std::string& dir, const std::string& split) {
  check_split(split, dir);
  return load_cifar_binary_files({dir + "/" + split + ".bin"}, CifarKind::cifar100);
}

}  // namespace taper
