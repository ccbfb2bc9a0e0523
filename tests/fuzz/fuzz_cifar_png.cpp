// Fuzz target: the CIFAR-10 PNG repack (data/cifar_png.h): one PNG batch and
// its JSON label list. Input layout (fuzz_support.h split_parts): [u32
// length][labels JSON][PNG file].
#include <cstdint>
#include <string>

#include "data/cifar_png.h"
#include "engine/error.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = taper::fuzz::split_parts(data, size, 2);
  const std::string labels = taper::fuzz::write_file("lables.json", parts[0]);
  const std::string png = taper::fuzz::write_file("batch.png", parts[1]);
  try {
    taper::Dataset d = taper::load_cifar_png_files({png}, labels);
    taper::check_dataset(d, "fuzz");
  } catch (const taper::Error&) {
  }
  return 0;
}
