#include "models/size.h"

#include <limits>

#include "engine/error.h"
#include "models/packed_plan.h"

namespace taper {

int layer_wbits(const LayerSpec& L, const std::vector<int>& stage_bits) {
  if (!L.quantizable()) return 32;
  check(L.stage <= static_cast<int>(stage_bits.size()), "layer '", L.name, "' has stage ", L.stage,
        " but the policy gives bits for ", stage_bits.size(), " stages");
  return stage_bits[L.stage - 1];
}

int64_t weight_params(const LayerSpec& L) {
  if (L.type == LayerType::conv) return L.out_channels * (L.in_shape[0] / L.groups) * L.kernel_h * L.kernel_w;
  if (L.type == LayerType::linear) return L.out_features * L.in_shape[0];
  return 0;
}

int64_t packed_bytes(int64_t params, int bits) { return (params * bits + 7) / 8; }

SizeReport size_report(const ModelSpec& spec, const std::vector<int>& stage_bits, int abits,
                       bool binarize_per_tensor) {
  SizeReport r;
  const PackedPlan plan = plan_packed(spec, stage_bits, abits, binarize_per_tensor);
  double bit_sum = 0.0;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& L = spec.layers[i];
    LayerSize row;
    row.name = L.name;
    row.type = layer_type_name(L.type);
    row.stage = L.stage;
    for (const PackedTensor& t : plan.layers[i].tensors) row.bytes += t.bytes();
    if (L.has_weights()) {
      row.params = weight_params(L);
      row.bias_params = L.bias ? L.out_shape[0] : 0;
      row.wbits = layer_wbits(L, stage_bits);
      const int64_t wbytes = packed_bytes(row.params, row.wbits);
      r.weight_bytes += wbytes;
      r.fp32_bytes += 4 * (row.params + row.bias_params);
      if (L.quantizable()) {
        r.quantized_params += row.params;
        r.quantized_weight_bytes += wbytes;
        bit_sum += static_cast<double>(row.params) * row.wbits;
      }
    } else if (L.type == LayerType::batchnorm) {
      row.params = 2 * L.out_shape[0];  // gamma, beta
      r.fp32_bytes += 4 * 3 * L.out_shape[0];  // deployed in float32 as mean, scale, shift
    }
    r.total_bytes += row.bytes;
    r.layers.push_back(row);
  }
  r.avg_weight_bits = r.quantized_params ? bit_sum / static_cast<double>(r.quantized_params) : 0.0;
  return r;
}

double match_width(const ModelSpec& spec, const std::vector<int>& stage_bits, int64_t target_bytes) {
  // weight_bytes never decreases as W grows (every channel count round(C*W)
  // is non-decreasing in W), so a binary search over the grid finds the
  // largest W = k / 1000 that fits.
  // A width at which the network outgrows taper's size limits (model_spec.cpp)
  // fits no budget.
  auto bytes_at = [&](int k) -> int64_t {
    try {
      return size_report(apply_width(spec, k / 1000.0), stage_bits).weight_bytes;
    } catch (const Error&) {
      return std::numeric_limits<int64_t>::max();
    }
  };
  int lo = 1, hi = 64000;
  check(bytes_at(lo) <= target_bytes, "no width fits in ", target_bytes,
        " weight bytes: even width 0.001 needs ", bytes_at(lo));
  if (bytes_at(hi) <= target_bytes) return hi / 1000.0;
  while (hi - lo > 1) {  // invariant: bytes_at(lo) fits, bytes_at(hi) does not
    int mid = (lo + hi) / 2;
    (bytes_at(mid) <= target_bytes ? lo : hi) = mid;
  }
  return lo / 1000.0;
}

}  // namespace taper
