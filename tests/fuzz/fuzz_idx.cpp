// Fuzz target: an idx image file and an idx label file (data/idx.h), plain
// or gzip'd. Input layout (fuzz_support.h split_parts): [u32 length][images
// file][labels file].
#include <cstdint>
#include <string>

#include "data/idx.h"
#include "engine/error.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = taper::fuzz::split_parts(data, size, 2);
  const std::string images = taper::fuzz::write_file("images-idx3-ubyte", parts[0]);
  const std::string labels = taper::fuzz::write_file("labels-idx1-ubyte", parts[1]);
  try {
    taper::Dataset d = taper::load_idx(images, labels, "fuzz", 10);
    if (int64_t(d.pixels.size()) != d.n * d.sample_size()) __builtin_trap();
  } catch (const taper::Error&) {
  }
  return 0;
}
