// Helpers shared by the fuzz targets (tests/fuzz/fuzz_*.cpp).
//
// Each target defines LLVMFuzzerTestOneInput: it feeds one input to a taper
// reader and accepts exactly one outcome besides success, a taper::Error
// (bad input, refused with a message). Anything else — a crash, a sanitizer
// report, any other exception (std::bad_alloc, nlohmann::json errors,
// std::filesystem errors, ...) — escapes and is a finding.
//
// Readers that take paths are fed through files in a private folder
// (/dev/shm when it exists, so a run costs no disk I/O), rewritten for every
// input.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace taper::fuzz {

// The folder of this process, created once and removed at exit.
inline const std::string& work_dir() {
  struct Dir {
    std::string path;
    Dir() {
      std::error_code ec;
      std::string base = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
      path = base + "/taper-fuzz-" + std::to_string(::getpid());
      std::filesystem::create_directories(path);
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static Dir dir;
  return dir.path;
}

// Writes bytes to work_dir()/name (parent folders created) and returns the path.
inline std::string write_file(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = work_dir() + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz harness: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}
inline std::string write_file(const std::string& name, const std::string& bytes) {
  return write_file(name, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// Splits an input into `n` parts: each of the first n - 1 parts is a 4-byte
// little-endian length followed by that many bytes (cut short at the end of
// the input), the last part is the rest. tests/fuzz/make_corpus.py writes
// seeds in this layout.
inline std::vector<std::string> split_parts(const uint8_t* data, size_t size, int n) {
  std::vector<std::string> parts;
  size_t pos = 0;
  for (int i = 0; i + 1 < n; ++i) {
    uint32_t len = 0;
    if (size - pos >= 4) {
      std::memcpy(&len, data + pos, 4);
      pos += 4;
    } else {
      pos = size;
    }
    size_t take = std::min<size_t>(len, size - pos);
    parts.emplace_back(reinterpret_cast<const char*>(data + pos), take);
    pos += take;
  }
  parts.emplace_back(reinterpret_cast<const char*>(data + pos), size - pos);
  return parts;
}

}  // namespace taper::fuzz
