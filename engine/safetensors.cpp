#include "engine/safetensors.h"

#include <unistd.h>  // fsync

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/error.h"

// Tensor bytes are copied to and from memory as they are, so the host must
// be little-endian like the format (x86 and ARM are).
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors I/O assumes a little-endian host");

namespace taper {

namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// Headers above this are rejected before anything is allocated (the Rust
// library's limit too).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Position of each dtype in the Rust library's Dtype enum; files list
// tensors by descending rank, then name. -1: unknown.
int dtype_rank(const std::string& d) {
  static const std::map<std::string, int> rank = {{"BOOL", 0}, {"U8", 1},   {"I8", 2},  {"I16", 5},
                                                  {"F16", 7},  {"BF16", 8}, {"I32", 9}, {"F32", 11},
                                                  {"F64", 12}, {"I64", 13}};
  auto it = rank.find(d);
  return it == rank.end() ? -1 : it->second;
}

// numel * dtype size with overflow checks; false when it does not fit in
// int64 or a dimension is negative.
bool byte_size(const Shape& shape, int64_t elem_size, int64_t* bytes) {
  int64_t n = elem_size;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return false;
  }
  *bytes = n;
  return true;
}

// Checks an entry built in memory (or loaded) before its bytes are read.
void check_entry(const std::string& name, const StEntry& e, const std::string& where) {
  const int64_t size = safetensors_dtype_size(e.dtype);
  check(size > 0, "tensor '", name, "' in ", where, " has unknown dtype '", e.dtype,
        "' (expected F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL)");
  int64_t bytes = 0;
  check(byte_size(e.shape, size, &bytes), "tensor '", name, "' in ", where, " has invalid shape ",
        shape_str(e.shape));
  check(static_cast<int64_t>(e.bytes.size()) == bytes, "tensor '", name, "' in ", where, " has ",
        e.bytes.size(), " bytes, but shape ", shape_str(e.shape), " of ", e.dtype, " needs ",
        bytes);
}

template <typename T>
T read_le(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// ---- header parsing ------------------------------------------------------

// One tensor's header entry, checked against the data buffer's length.
struct HeaderEntry {
  std::string name;
  StEntry entry;  // bytes not yet read
  uint64_t begin = 0, end = 0;
};

uint64_t parse_offset(const json& v, const std::string& name, const std::string& file) {
  check(v.is_number_unsigned(), file, ": tensor '", name,
        "': data_offsets must hold non-negative integers, got ", v.dump());
  return v.get<uint64_t>();
}

HeaderEntry parse_entry(const std::string& name, const json& v, uint64_t data_len,
                        const std::string& file) {
  const std::string what = file + ": tensor '" + name + "'";
  check(v.is_object(), what, ": expected an object {dtype, shape, data_offsets}, got ", v.dump());
  for (const auto& item : v.items())
    check(item.key() == "dtype" || item.key() == "shape" || item.key() == "data_offsets", what,
          ": unknown key '", item.key(), "' (expected dtype, shape, data_offsets)");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    check(v.contains(key), what, ": missing key '", key, "'");

  HeaderEntry h;
  h.name = name;
  const json& dtype = v["dtype"];
  check(dtype.is_string(), what, ": dtype must be a string, got ", dtype.dump());
  h.entry.dtype = dtype.get<std::string>();
  const int64_t size = safetensors_dtype_size(h.entry.dtype);
  check(size > 0, what, ": unknown dtype '", h.entry.dtype,
        "' (expected F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL)");

  const json& shape = v["shape"];
  check(shape.is_array(), what, ": shape must be an array, got ", shape.dump());
  check(shape.size() <= size_t(Shape::kMaxDims), what, ": shape ", shape.dump(), " has ",
        shape.size(), " dimensions; taper tensors have at most ", Shape::kMaxDims);
  for (const json& d : shape) {
    check(!(d.is_number_integer() && !d.is_number_unsigned()), what,
          ": negative dimension in shape ", shape.dump());
    check(d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t(INT64_MAX), what,
          ": shape must hold non-negative integers, got ", shape.dump());
    h.entry.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
  }
  int64_t bytes = 0;
  check(byte_size(h.entry.shape, size, &bytes), what, ": shape ", shape.dump(), " is too large");

  const json& off = v["data_offsets"];
  check(off.is_array() && off.size() == 2, what, ": data_offsets must be [begin, end], got ",
        off.dump());
  h.begin = parse_offset(off[0], name, file);
  h.end = parse_offset(off[1], name, file);
  check(h.begin <= h.end, what, ": data_offsets ", off.dump(), " have begin > end");
  check(h.end <= data_len, what, ": data_offsets ", off.dump(),
        " run past the end of the data buffer (", data_len, " bytes)");
  check(h.end - h.begin == uint64_t(bytes), what, ": data_offsets ", off.dump(), " span ",
        h.end - h.begin, " bytes, but shape ", shape_str(h.entry.shape), " of ", h.entry.dtype,
        " needs ", bytes);
  return h;
}

// Parses the header text; rejects duplicate keys in any object (JSON
// parsers silently keep the last one).
json parse_header_json(const std::string& text, const std::string& file) {
  check(text.find('\0') == std::string::npos, file,
        ": header contains a NUL byte (padding must be spaces)");
  check(!text.empty() && text[0] == '{', file,
        ": header is not a JSON object (expected it to start with '{')");
  std::vector<std::set<std::string>> open_objects;  // keys seen, per nesting level
  std::string duplicate;
  auto callback = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty()) {
      if (!open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
        duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text, callback);
  } catch (const json::exception& e) {
    fail(file, ": header is not valid JSON (", e.what(), ")");
  }
  check(header.is_object(), file, ": header is not a JSON object");
  check(duplicate.empty(), file, ": header has the key '", duplicate, "' twice");
  return header;
}

// Checks that the tensors' byte ranges tile [0, data_len) exactly.
void check_tiling(std::vector<const HeaderEntry*> order, uint64_t data_len,
                  const std::string& file) {
  std::sort(order.begin(), order.end(), [](const HeaderEntry* a, const HeaderEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  const HeaderEntry* prev = nullptr;
  for (const HeaderEntry* h : order) {
    check(h->begin >= pos, file, ": tensor '", h->name, "' [", h->begin, ", ", h->end,
          ") overlaps tensor '", prev ? prev->name : "", "' [", prev ? prev->begin : 0, ", ", pos,
          ")");
    check(h->begin == pos, file, ": bytes [", pos, ", ", h->begin,
          ") of the data buffer belong to no tensor (before tensor '", h->name, "')");
    pos = h->end;
    prev = h;
  }
  check(pos == data_len, file, ": the data buffer has ", data_len - pos,
        " bytes after the last tensor that belong to no tensor");
}

}  // namespace

int64_t safetensors_dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64") return 8;
  if (d == "F32" || d == "I32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL") return 1;
  return 0;
}

// IEEE binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
//   exponent 0:      (-1)^s * m * 2^-24            (zero and subnormals)
//   exponent 1..30:  (-1)^s * (1024 + m) * 2^(e-25)
//   exponent 31:     infinity (m = 0) or NaN
float half_to_float(uint16_t bits) {
  const int sign = bits >> 15, exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
  float magnitude;
  if (exponent == 0)
    magnitude = std::ldexp(float(mantissa), -24);
  else if (exponent == 31)
    magnitude =
        mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else
    magnitude = std::ldexp(float(1024 + mantissa), exponent - 25);
  return sign ? -magnitude : magnitude;
}

// bfloat16 is the upper half of a float32.
float bfloat16_to_float(uint16_t bits) {
  const uint32_t wide = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof f);
  return f;
}

// ---- SafeTensors -----------------------------------------------------------

std::string SafeTensors::where() const {
  return source.empty() ? std::string("in-memory safetensors") : "file '" + source + "'";
}

void SafeTensors::put(const std::string& name, const Tensor& t) {
  check(name != "__metadata__", "safetensors: '__metadata__' cannot name a tensor");
  check(shape_numel(t.shape()) == t.numel(), "safetensors: tensor '", name,
        "' is unallocated (no shape)");
  StEntry e{"F32", t.shape(), std::vector<char>(sizeof(float) * t.numel())};
  if (t.numel()) std::memcpy(e.bytes.data(), t.data(), e.bytes.size());
  entries[name] = std::move(e);
}

void SafeTensors::put_i64(const std::string& name, const Shape& shape,
                          const std::vector<int64_t>& v) {
  check(name != "__metadata__", "safetensors: '__metadata__' cannot name a tensor");
  check(static_cast<int64_t>(v.size()) == shape_numel(shape), "safetensors: tensor '", name,
        "' has ", v.size(), " values for shape ", shape_str(shape));
  StEntry e{"I64", shape, std::vector<char>(sizeof(int64_t) * v.size())};
  if (!v.empty()) std::memcpy(e.bytes.data(), v.data(), e.bytes.size());
  entries[name] = std::move(e);
}

bool SafeTensors::has(const std::string& name) const { return entries.count(name) > 0; }

const StEntry& SafeTensors::entry(const std::string& name) const {
  auto it = entries.find(name);
  check(it != entries.end(), "tensor '", name, "' not found in ", where());
  check_entry(name, it->second, where());
  return it->second;
}

Tensor SafeTensors::get(const std::string& name) const {
  const StEntry& e = entry(name);
  Tensor t(e.shape);  // same numel as the bytes hold, checked by entry()
  float* out = t.data();
  const char* p = e.bytes.data();
  const int64_t n = t.numel();
  if (e.dtype == "F32") {
    if (n) std::memcpy(out, p, sizeof(float) * n);
  } else if (e.dtype == "F64") {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(read_le<double>(p + 8 * i));
  } else if (e.dtype == "F16") {
    for (int64_t i = 0; i < n; ++i) out[i] = half_to_float(read_le<uint16_t>(p + 2 * i));
  } else if (e.dtype == "BF16") {
    for (int64_t i = 0; i < n; ++i) out[i] = bfloat16_to_float(read_le<uint16_t>(p + 2 * i));
  } else {
    fail("tensor '", name, "' in ", where(), " has dtype ", e.dtype,
         ", expected a float tensor (F32, F64, F16 or BF16)");
  }
  return t;
}

std::vector<int64_t> SafeTensors::get_i64(const std::string& name, Shape* shape) const {
  const StEntry& e = entry(name);
  const int64_t n = shape_numel(e.shape);
  std::vector<int64_t> out(n);
  const char* p = e.bytes.data();
  if (e.dtype == "I64") {
    if (n) std::memcpy(out.data(), p, sizeof(int64_t) * n);
  } else if (e.dtype == "I32") {
    for (int64_t i = 0; i < n; ++i) out[i] = read_le<int32_t>(p + 4 * i);
  } else if (e.dtype == "I16") {
    for (int64_t i = 0; i < n; ++i) out[i] = read_le<int16_t>(p + 2 * i);
  } else if (e.dtype == "I8") {
    for (int64_t i = 0; i < n; ++i) out[i] = read_le<int8_t>(p + i);
  } else if (e.dtype == "U8") {
    for (int64_t i = 0; i < n; ++i) out[i] = read_le<uint8_t>(p + i);
  } else {
    fail("tensor '", name, "' in ", where(), " has dtype ", e.dtype,
         ", expected an integer tensor (I64, I32, I16, I8 or U8)");
  }
  if (shape) *shape = e.shape;
  return out;
}

// ---- load ------------------------------------------------------------------

SafeTensors load_safetensors(const std::string& path) {
  const std::string file = "safetensors file '" + path + "'";
  std::error_code ec;
  check(!std::filesystem::is_directory(path, ec), file, " is a directory");
  std::ifstream in(path, std::ios::binary);
  check(bool(in), "cannot open ", file, ": ", std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size_signed = in.tellg();
  check(size_signed >= 0, "cannot read ", file);
  const uint64_t file_size = uint64_t(size_signed);
  check(file_size >= 8, file, " is ", file_size,
        " bytes long, too short for the 8-byte header length");
  in.seekg(0);

  char prefix[8];
  in.read(prefix, 8);
  check(bool(in), "cannot read ", file);
  const uint64_t n = read_le<uint64_t>(prefix);
  check(n <= kMaxHeaderBytes, file, ": header length ", n, " is absurdly large (limit ",
        kMaxHeaderBytes, " bytes); not a safetensors file?");
  check(n <= file_size - 8, file, ": header length ", n, " runs past the end of the file (",
        file_size, " bytes)");
  std::string text(n, '\0');
  if (n) in.read(&text[0], std::streamsize(n));
  check(bool(in), "cannot read the header of ", file);

  const json header = parse_header_json(text, file);
  const uint64_t data_len = file_size - 8 - n;
  SafeTensors st;
  st.source = path;
  std::vector<HeaderEntry> tensors;
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") {
      check(item.value().is_object(), file, ": __metadata__ must be an object of strings, got ",
            item.value().dump());
      for (const auto& kv : item.value().items()) {
        check(kv.value().is_string(), file, ": __metadata__ value of '", kv.key(),
              "' must be a string, got ", kv.value().dump());
        st.metadata[kv.key()] = kv.value().get<std::string>();
      }
    } else {
      tensors.push_back(parse_entry(item.key(), item.value(), data_len, file));
    }
  }
  std::vector<const HeaderEntry*> order;
  for (const HeaderEntry& h : tensors) order.push_back(&h);
  check_tiling(order, data_len, file);

  // The ranges tile the buffer, so reading in offset order is sequential.
  std::sort(order.begin(), order.end(),
            [](const HeaderEntry* a, const HeaderEntry* b) { return a->begin < b->begin; });
  for (const HeaderEntry* h : order) {
    StEntry e = h->entry;
    e.bytes.resize(h->end - h->begin);
    if (!e.bytes.empty()) in.read(e.bytes.data(), std::streamsize(e.bytes.size()));
    check(bool(in), "cannot read the data of tensor '", h->name, "' from ", file);
    st.entries[h->name] = std::move(e);
  }
  return st;
}

// ---- save ------------------------------------------------------------------

void save_safetensors(const std::string& path, const SafeTensors& st) {
  const std::string file = "safetensors file '" + path + "'";
  std::vector<const std::pair<const std::string, StEntry>*> order;
  for (const auto& kv : st.entries) {
    check(kv.first != "__metadata__", "cannot save ", file, ": '__metadata__' names a tensor");
    check_entry(kv.first, kv.second, "save to " + file);
    order.push_back(&kv);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return dtype_rank(a->second.dtype) > dtype_rank(b->second.dtype);  // names stay sorted
  });

  ordered_json header = ordered_json::object();
  if (!st.metadata.empty()) header["__metadata__"] = st.metadata;
  uint64_t offset = 0;
  for (const auto* kv : order) {
    const StEntry& e = kv->second;
    ordered_json info = ordered_json::object();
    info["dtype"] = e.dtype;
    info["shape"] = ordered_json::array();
    for (int64_t d : e.shape) info["shape"].push_back(d);
    info["data_offsets"] = {offset, offset + e.bytes.size()};
    offset += e.bytes.size();
    header[kv->first] = std::move(info);
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const ordered_json::exception&) {
    fail("cannot save ", file, ": a tensor name or metadata string is not valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  check(f != nullptr, "cannot write ", file, ": cannot create '", tmp, "': ", std::strerror(errno));
  char prefix[8];
  const uint64_t n = text.size();
  std::memcpy(prefix, &n, 8);
  bool ok = std::fwrite(prefix, 1, 8, f) == 8 &&
            std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (const auto* kv : order) {
    const std::vector<char>& b = kv->second.bytes;
    if (ok && !b.empty()) ok = std::fwrite(b.data(), 1, b.size(), f) == b.size();
  }
  ok = ok && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  const int write_errno = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    fail("cannot write ", file, ": writing '", tmp, "' failed: ", std::strerror(write_errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int rename_errno = errno;
    std::remove(tmp.c_str());
    fail("cannot write ", file, ": renaming '", tmp, "' failed: ", std::strerror(rename_errno));
  }
}

}  // namespace taper
