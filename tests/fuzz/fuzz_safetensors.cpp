// Fuzz target: a safetensors file (engine/safetensors.h) loaded and, when it
// is accepted, every tensor read back through get() or get_i64() (the dtype
// conversions) and the whole set saved and loaded again (a file taper
// accepts must round-trip).
#include <cstdint>
#include <string>

#include "engine/error.h"
#include "engine/safetensors.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = taper::fuzz::write_file("in.safetensors", data, size);
  taper::SafeTensors st;
  try {
    st = taper::load_safetensors(path);
  } catch (const taper::Error&) {
    return 0;
  }
  for (const auto& kv : st.entries) {
    const std::string& d = kv.second.dtype;
    try {
      if (d == "F32" || d == "F64" || d == "F16" || d == "BF16")
        (void)st.get(kv.first);
      else
        (void)st.get_i64(kv.first);
    } catch (const taper::Error&) {  // BOOL is neither a float nor an integer tensor
    }
  }
  const std::string copy = taper::fuzz::work_dir() + "/copy.safetensors";
  try {
    taper::save_safetensors(copy, st);
  } catch (const taper::Error&) {  // names or metadata that are not UTF-8
    return 0;
  }
  taper::SafeTensors again = taper::load_safetensors(copy);
  if (again.entries.size() != st.entries.size() || again.metadata != st.metadata) __builtin_trap();
  for (const auto& kv : st.entries) {
    const taper::StEntry& a = again.entries.at(kv.first);
    if (a.dtype != kv.second.dtype || a.shape != kv.second.shape || a.bytes != kv.second.bytes)
      __builtin_trap();
  }
  return 0;
}
