// Bit policies: how many bits each stage's weights get.
//
// A model's quantizable layers carry a stage index 1..S (model JSON). A weight
// spec assigns bits per stage:
//   "32"             full precision everywhere
//   "k"              homogeneous: every stage k bits (k in 1..8)
//   "a-b-c..."       one value per stage, in order (paper notation, 8-4-2-1);
//                    each 1..8 or 32; the count must equal S
//   "progressive:K"  K, K/2, K/4, ... (integer halving) per stage, floor 1;
//                    K in 1..8 — progressive:8 on 4 stages is 8-4-2-1
// Activation bits are one number for all quantizable activations: 1..8 or 32.
#pragma once

#include <string>
#include <vector>

namespace taper {

// Bits per stage (index 0 is stage 1). Throws Error naming the spec.
std::vector<int> parse_wbits(const std::string& spec, int num_stages);
// Activation bits from text ("2", "32"). Throws Error otherwise.
int parse_abits(const std::string& text);
// "8-4-2-1" from {8, 4, 2, 1}.
std::string bits_to_string(const std::vector<int>& bits);

}  // namespace taper
