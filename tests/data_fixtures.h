// Small data files for the data-layer tests, written by the tests themselves
// into a temporary folder (no real data set needed).
#pragma once

#include <stb_image_write.h>
#include <stdlib.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/rng.h"
#include "support/files.h"
#include "support/temp_dir.h"

namespace taper {
namespace testing {

using Bytes = std::vector<uint8_t>;

inline void write_bytes(const std::string& path, const Bytes& bytes) {
  write_text(path, std::string(bytes.begin(), bytes.end()));
}

inline Bytes read_bytes(const std::string& path) {
  const std::string s = read_text(path);
  return Bytes(s.begin(), s.end());
}

inline void write_gz(const std::string& path, const Bytes& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  gzFile f = gzopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + path);
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

inline void append_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// An idx3 image file: magic, n, rows, cols, pixels.
inline Bytes idx_images(uint32_t n, uint32_t rows, uint32_t cols, const Bytes& pixels,
                        uint32_t magic = 0x00000803) {
  Bytes b;
  append_be32(b, magic);
  append_be32(b, n);
  append_be32(b, rows);
  append_be32(b, cols);
  b.insert(b.end(), pixels.begin(), pixels.end());
  return b;
}

// An idx1 label file: magic, n, labels.
inline Bytes idx_labels(uint32_t n, const Bytes& labels, uint32_t magic = 0x00000801) {
  Bytes b;
  append_be32(b, magic);
  append_be32(b, n);
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

inline Bytes random_bytes(size_t n, uint64_t seed) {
  Rng rng(seed);
  Bytes b(n);
  for (auto& v : b) v = static_cast<uint8_t>(rng.next_u64() & 0xff);
  return b;
}

// A data set of n random images; sample i has label i % classes.
inline Dataset random_dataset(int64_t n, int64_t C, int64_t H, int64_t W, int64_t classes,
                              uint64_t seed) {
  Dataset d;
  d.name = "random";
  d.n = n;
  d.channels = C;
  d.height = H;
  d.width = W;
  d.classes = classes;
  d.pixels = random_bytes(n * C * H * W, seed);
  d.labels.resize(n);
  for (int64_t i = 0; i < n; ++i) d.labels[i] = i % classes;
  return d;
}

// Writes an 8-bit PNG of (h, w, comp) interleaved pixels.
inline void write_png(const std::string& path, int w, int h, int comp, const Bytes& pixels) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  if (!stbi_write_png(path.c_str(), w, h, comp, pixels.data(), w * comp))
    throw std::runtime_error("cannot write " + path);
}

}  // namespace testing
}  // namespace taper
