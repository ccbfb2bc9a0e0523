// safetensors: the tensor file format of Hugging Face's `safetensors` library,
// read and written byte-compatibly, for checkpoints and exported models.
//
// File layout (all integers little-endian):
//   bytes [0, 8)        N, a u64: the length of the JSON header
//   bytes [8, 8 + N)    the header, a JSON object, padded with spaces so that
//                       8 + N is a multiple of 8 (the data then starts aligned)
//   bytes [8 + N, end)  the data buffer: every tensor's raw bytes, C order
//
// Header: {"__metadata__": {"key": "value", ...},                  (optional)
//          "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
//          ...}
// data_offsets are [begin, end) byte offsets into the data buffer. The
// tensors' ranges tile the buffer exactly: no overlaps, no holes, nothing
// after the last one (so a file cannot smuggle unindexed bytes).
//
// dtypes and element sizes: F64 8, F32 4, F16 2, BF16 2, I64 8, I32 4, I16 2,
// I8 1, U8 1, BOOL 1.
//
// Writing matches Python's safetensors.torch.save_file byte for byte:
// compact JSON, "__metadata__" first, then the tensors in data order, which
// is by dtype (8-byte types first: I64, F64, F32, I32, BF16, F16, I16, I8,
// U8, BOOL — the order of the Rust library's Dtype enum, reversed), then by
// name; each entry's keys in the order dtype, shape, data_offsets.
//
// Loading reads the whole file into memory and validates everything before
// returning; a malformed file throws Error naming the file and the problem.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace taper {

// One tensor as stored: dtype name ("F32", ...), shape, raw little-endian
// bytes (numel * dtype size of them).
struct StEntry {
  std::string dtype;
  Shape shape;
  std::vector<char> bytes;
};

class SafeTensors {
 public:
  std::map<std::string, StEntry> entries;       // sorted by name
  std::map<std::string, std::string> metadata;  // the header's "__metadata__"
  std::string source;  // file it was loaded from ("" if built in memory), for messages

  // Stores t as F32 (replaces an entry of the same name).
  void put(const std::string& name, const Tensor& t);
  // Stores v as I64 with the given shape (v.size() must equal its numel).
  void put_i64(const std::string& name, const Shape& shape, const std::vector<int64_t>& v);
  bool has(const std::string& name) const;

  // A float tensor: F32 as is; F64, F16 and BF16 converted to float32.
  // Error naming the tensor and the file for a missing name or other dtype.
  Tensor get(const std::string& name) const;
  // An integer tensor: I64, I32, I16, I8 or U8, widened to int64. Sets
  // *shape when given.
  std::vector<int64_t> get_i64(const std::string& name, Shape* shape = nullptr) const;

 private:
  const StEntry& entry(const std::string& name) const;  // validated, or Error
  std::string where() const;                            // "file 'x'" for messages
};

SafeTensors load_safetensors(const std::string& path);

// Writes to path + ".tmp", flushes it to disk, then renames it over path, so
// an interrupted save never destroys the previous file.
void save_safetensors(const std::string& path, const SafeTensors& st);

// Element size in bytes of a safetensors dtype name, 0 for an unknown name.
int64_t safetensors_dtype_size(const std::string& dtype);

// IEEE half and bfloat16 bit patterns to float (exact: float holds them all).
float half_to_float(uint16_t bits);
float bfloat16_to_float(uint16_t bits);

}  // namespace taper
