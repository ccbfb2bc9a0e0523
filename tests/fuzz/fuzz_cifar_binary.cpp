// Fuzz target: CIFAR binary batches (data/cifar_binary.h). The first byte
// picks the kind (even: CIFAR-10, odd: CIFAR-100); the rest is split into two
// files (fuzz_support.h split_parts) loaded and concatenated.
#include <cstdint>
#include <string>

#include "data/cifar_binary.h"
#include "engine/error.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto kind = data[0] % 2 ? taper::CifarKind::cifar100 : taper::CifarKind::cifar10;
  const auto parts = taper::fuzz::split_parts(data + 1, size - 1, 2);
  const std::string a = taper::fuzz::write_file("batch_a.bin", parts[0]);
  const std::string b = taper::fuzz::write_file("batch_b.bin", parts[1]);
  try {
    taper::Dataset d = taper::load_cifar_binary_files({a, b}, kind);
    taper::check_dataset(d, "fuzz");
  } catch (const taper::Error&) {
  }
  return 0;
}
