#include "quant/policy.h"

#include <cctype>

#include "engine/error.h"

namespace taper {

// Parses a whole decimal number (no sign, no spaces); -1 if it is not one.
static int parse_small_int(const std::string& s) {
  if (s.empty() || s.size() > 3) return -1;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
  return std::stoi(s);
}

static bool valid_weight_bits(int b) { return (b >= 1 && b <= 8) || b == 32; }

std::vector<int> parse_wbits(const std::string& spec, int num_stages) {
  const std::string grammar = "expected 32, k (1-8), a-b-c... (one per stage) or progressive:K";
  check(!spec.empty(), "empty --wbits spec: ", grammar);
  const std::string prog = "progressive:";
  if (spec.compare(0, prog.size(), prog) == 0) {
    int k = parse_small_int(spec.substr(prog.size()));
    check(k >= 1 && k <= 8, "--wbits '", spec, "': K in progressive:K must be 1..8");
    std::vector<int> bits;
    for (int s = 0; s < num_stages; ++s) {
      bits.push_back(k);
      k = std::max(1, k / 2);
    }
    return bits;
  }
  if (spec.find('-') == std::string::npos) {
    int b = parse_small_int(spec);
    check(valid_weight_bits(b), "--wbits '", spec, "': ", grammar, "; weight bits are 1-8 or 32");
    return std::vector<int>(num_stages, b);
  }
  std::vector<int> bits;
  size_t start = 0;
  while (true) {
    size_t dash = spec.find('-', start);
    std::string part = spec.substr(start, dash == std::string::npos ? std::string::npos : dash - start);
    int b = parse_small_int(part);
    check(valid_weight_bits(b), "--wbits '", spec, "': '", part, "' is not a bit width (1-8 or 32)");
    bits.push_back(b);
    if (dash == std::string::npos) break;
    start = dash + 1;
  }
  check(static_cast<int>(bits.size()) == num_stages, "--wbits '", spec, "' gives ", bits.size(),
        " values but the model has ", num_stages, " stages");
  return bits;
}

int parse_abits(const std::string& text) {
  int b = parse_small_int(text);
  check((b >= 1 && b <= 8) || b == 32, "--abits '", text, "': activation bits are 1-8 or 32");
  return b;
}

std::string bits_to_string(const std::vector<int>& bits) {
  std::string s;
  for (size_t i = 0; i < bits.size(); ++i) s += (i ? "-" : "") + std::to_string(bits[i]);
  return s;
}

}  // namespace taper
