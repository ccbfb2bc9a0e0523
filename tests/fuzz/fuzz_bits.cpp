// Fuzz target: the --wbits and --abits parsers (quant/policy.h). Byte 0 is
// the model's stage count (0..15); the rest is the text, given to both
// parsers. An accepted weight spec must give one valid width per stage and
// print back (bits_to_string) as a spec that parses to the same widths.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/error.h"
#include "quant/policy.h"

static bool valid(int b) { return (b >= 1 && b <= 8) || b == 32; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int stages = data[0] % 16;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    std::vector<int> bits = taper::parse_wbits(text, stages);
    if (static_cast<int>(bits.size()) != stages) __builtin_trap();
    for (int b : bits)
      if (!valid(b)) __builtin_trap();
    if (stages > 1 && taper::parse_wbits(taper::bits_to_string(bits), stages) != bits)
      __builtin_trap();
  } catch (const taper::Error&) {
  }
  try {
    if (!valid(taper::parse_abits(text))) __builtin_trap();
  } catch (const taper::Error&) {
  }
  return 0;
}
