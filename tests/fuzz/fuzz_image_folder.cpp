// Fuzz target: an image folder (data/image_folder.h) with two classes, one
// image each. Input layout: byte 0 picks the output size (1 + b % 48) and,
// by its top bit, whether the files are named .png or .jpg (stb_image
// decodes by content either way); the rest is split (fuzz_support.h
// split_parts) into the image of class "a" and the image of class "b".
#include <cstdint>
#include <filesystem>
#include <string>

#include "data/image_folder.h"
#include "engine/error.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int64_t out_size = 1 + data[0] % 48;
  const std::string ext = (data[0] & 0x80) ? ".jpg" : ".png";
  const auto parts = taper::fuzz::split_parts(data + 1, size - 1, 2);
  const std::string root = taper::fuzz::work_dir() + "/folder";
  std::filesystem::remove_all(root);
  taper::fuzz::write_file("folder/a/0" + ext, parts[0]);
  taper::fuzz::write_file("folder/b/0" + ext, parts[1]);
  try {
    taper::Dataset d = taper::load_image_folder(root, out_size);
    taper::check_dataset(d, "fuzz");
  } catch (const taper::Error&) {
  }
  return 0;
}
