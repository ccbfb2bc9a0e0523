#include "data/cifar_png.h"

#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "data/image_decode.h"
#include "engine/error.h"
#include "engine/parallel.h"

namespace taper {

namespace {

constexpr int64_t kC = 3, kSide = 32, kRow = kSide * kSide;  // one PNG row = 1024 pixels
// deflate's largest expansion (258-byte matches coded in 2 bits): about 1032:1.
constexpr uint64_t kMaxDeflateRatio = 1032;

std::vector<int64_t> read_labels(const std::string& path, int64_t classes) {
  std::ifstream in(path);
  check(in.good(), path, ": cannot open");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not valid JSON (", e.what(), ")");
  }
  check(j.is_array(), path, ": expected a flat JSON list of class indices, found ", j.type_name());
  std::vector<int64_t> labels(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    check(j[i].is_number_integer(), path, ": entry ", i, " is ", j[i].dump(),
          ", expected an integer class index (a flat list of labels)");
    labels[i] = j[i].get<int64_t>();
    check(labels[i] >= 0 && labels[i] < classes, path, ": label ", labels[i], " of image ", i,
          " is outside [0, ", classes, ")");
  }
  return labels;
}

}  // namespace

Dataset load_cifar_png_files(const std::vector<std::string>& pngs, const std::string& labels_json) {
  Dataset d;
  d.name = "cifar10";
  d.channels = kC;
  d.height = kSide;
  d.width = kSide;
  d.classes = 10;
  // Headers first: check every file's format and find where its images go,
  // so the pixels are allocated once.
  std::vector<int64_t> first(pngs.size() + 1, 0);  // image index of each file's row 0
  for (size_t f = 0; f < pngs.size(); ++f) {
    const std::string& path = pngs[f];
    std::string bytes;
    std::string why = read_file_bytes(path, bytes);
    ImageHeader header;
    if (why.empty()) why = peek_image(bytes, path, header);
    if (!why.empty()) throw Error(why);
    const int w = header.width, h = header.height, comp = header.channels;
    check(w == kRow && comp == 3, path, ": ", w, "x", h, " with ", comp,
          " channels, expected an RGB PNG 1024 pixels wide (one 32x32 image per row)");
    check(!header.is_16_bit, path, ": 16-bit PNG, expected 8 bits per channel");
    // A header claiming more rows than the file can hold is refused before
    // the pixels are allocated: a row is 1 filter byte + 3072 sample bytes of
    // deflate data, and deflate expands at most kMaxDeflateRatio times.
    const uint64_t max_rows = uint64_t(bytes.size()) * kMaxDeflateRatio / (1 + kC * kRow);
    check(uint64_t(h) <= max_rows, path, ": the PNG header claims ", h, " rows, more than a ",
          bytes.size(), "-byte file can hold (at most ", max_rows, "); corrupt header?");
    first[f + 1] = first[f] + h;
  }
  d.n = first.back();
  d.pixels.resize(d.n * kC * kRow);

  // Decode the files in parallel (each writes its own images). Errors are
  // kept per file and the first in file order is thrown.
  std::vector<std::string> errors(pngs.size());
  const int64_t files = static_cast<int64_t>(pngs.size());
  parallel_for_dynamic(files, 1, [&](int64_t f) {
    const std::string& path = pngs[f];
    const int64_t rows = first[f + 1] - first[f];
    std::string bytes;
    DecodedImage img;  // (rows, 1024, 3)
    errors[f] = read_file_bytes(path, bytes);
    if (errors[f].empty()) errors[f] = decode_image(bytes, path, 3, rows * kRow, img);
    if (!errors[f].empty()) return;
    if (img.width != kRow || img.height != rows) {
      errors[f] = path + ": decoded as " + std::to_string(img.width) + "x" +
                  std::to_string(img.height) + ", its header said 1024x" + std::to_string(rows);
      return;
    }
    // Row r, pixel x, channel c  ->  image first[f]+r, plane c, position x.
    const uint8_t* src = img.pixels.get();
    for (int64_t r = 0; r < rows; ++r) {
      uint8_t* dst = d.pixels.data() + (first[f] + r) * kC * kRow;  // (C, 32*32)
      for (int64_t x = 0; x < kRow; ++x)
        for (int64_t c = 0; c < kC; ++c) dst[c * kRow + x] = src[(r * kRow + x) * kC + c];
    }
  });
  for (const std::string& e : errors)
    if (!e.empty()) throw Error(e);

  d.labels = read_labels(labels_json, d.classes);
  check(static_cast<int64_t>(d.labels.size()) == d.n, labels_json, ": ", d.labels.size(),
        " labels, but the PNGs hold ", d.n, " images");
  return d;
}

Dataset load_cifar10_png(const std::string& dir, const std::string& split) {
  check(split == "train" || split == "test", dir, ": unknown split '", split,
        "', expected train or test");
  std::vector<std::string> pngs;
  if (split == "train")
    for (int b = 1; b <= 5; ++b) pngs.push_back(dir + "/data_batch_" + std::to_string(b) + ".png");
  else
    pngs.push_back(dir + "/test_batch.png");
  return load_cifar_png_files(pngs, dir + "/" + split + "_lables.json");
}

}  // namespace taper
