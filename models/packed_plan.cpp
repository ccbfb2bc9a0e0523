#include "models/packed_plan.h"

#include "engine/error.h"
#include "engine/safetensors.h"
#include "models/size.h"
#include "quant/pack.h"

namespace taper {

const char* packed_role_name(PackedRole role) {
  switch (role) {
    case PackedRole::int_layer: return "int";
    case PackedRole::float_q_layer: return "float_q";
    case PackedRole::float_layer: return "float";
    case PackedRole::folded_bn: return "folded_bn";
    case PackedRole::folded_act: return "folded_act";
    case PackedRole::quantize: return "quantize";
    case PackedRole::same: return "same";
  }
  return "?";
}

int64_t PackedTensor::bytes() const { return shape_numel(shape) * safetensors_dtype_size(dtype); }

int64_t PackedPlan::tensor_bytes() const {
  int64_t sum = 0;
  for (const PackedLayer& l : layers)
    for (const PackedTensor& t : l.tensors) sum += t.bytes();
  return sum;
}

// The layers that read layer i's output.
static std::vector<int> readers_of(const ModelSpec& spec, int i) {
  std::vector<int> r;
  for (size_t j = 0; j < spec.layers.size(); ++j)
    for (int in : spec.layers[j].inputs)
      if (in == i) r.push_back(static_cast<int>(j));
  return r;
}

PackedPlan plan_packed(const ModelSpec& spec, const std::vector<int>& stage_bits, int abits,
                       bool binarize_per_tensor) {
  PackedPlan plan;
  plan.abits = abits;
  plan.binarize_per_tensor = binarize_per_tensor;
  const size_t n = spec.layers.size();
  plan.layers.resize(n);
  auto codes_in = [&](const LayerSpec& L) { return L.inputs[0] >= 0 && plan.layers[L.inputs[0]].codes_out; };
  for (size_t i = 0; i < n; ++i) {
    const LayerSpec& L = spec.layers[i];
    PackedLayer& P = plan.layers[i];
    if (P.role == PackedRole::folded_bn || P.role == PackedRole::folded_act) continue;  // set by their conv
    switch (L.type) {
      case LayerType::conv:
      case LayerType::linear: {
        P.wbits = layer_wbits(L, stage_bits);
        const int64_t out = L.out_shape[0];
        if (P.wbits == 32) {
          P.role = PackedRole::float_layer;
          Shape ws = L.type == LayerType::conv ? Shape{out, L.in_shape[0] / L.groups, L.kernel_h, L.kernel_w}
                                               : Shape{out, L.in_shape[0]};
          P.tensors.push_back({L.name + ".weight", "F32", ws});
        } else {
          P.role = codes_in(L) ? PackedRole::int_layer : PackedRole::float_q_layer;
          P.tensors.push_back({L.name + ".weight", "U8", {packed_size(weight_params(L), P.wbits)}});
          if (P.role == PackedRole::int_layer && abits < 32 && !L.bias) {
            const std::vector<int> r1 = readers_of(spec, static_cast<int>(i));
            if (r1.size() == 1 && spec.layers[r1[0]].type == LayerType::batchnorm) {
              const std::vector<int> r2 = readers_of(spec, r1[0]);
              if (r2.size() == 1 && spec.layers[r2[0]].type == LayerType::qact) {
                P.folded = true;
                PackedLayer& bn = plan.layers[r1[0]];
                bn.role = PackedRole::folded_bn;
                const int64_t C = spec.layers[r1[0]].out_shape[0];
                bn.tensors.push_back({spec.layers[r1[0]].name + ".thresholds", "I32", {C, (int64_t(1) << abits) - 1}});
                bn.tensors.push_back({spec.layers[r1[0]].name + ".direction", "I8", {C}});
                PackedLayer& act = plan.layers[r2[0]];
                act.role = PackedRole::folded_act;
                act.codes_out = true;
              }
            }
          }
          if (P.wbits == 1) P.tensors.push_back({L.name + ".scale", "F32", {binarize_per_tensor ? 1 : out}});
        }
        if (L.bias) P.tensors.push_back({L.name + ".bias", "F32", {out}});
        break;
      }
      case LayerType::batchnorm: {
        P.role = PackedRole::float_layer;
        const int64_t C = L.out_shape[0];
        for (const char* t : {".mean", ".scale", ".shift"}) P.tensors.push_back({L.name + t, "F32", {C}});
        break;
      }
      case LayerType::qact:
        if (abits < 32) {
          P.role = codes_in(L) ? PackedRole::same : PackedRole::quantize;  // codes are already quantized
          P.codes_out = true;
        } else {
          P.role = codes_in(L) ? PackedRole::same : PackedRole::float_layer;  // a ReLU
          P.codes_out = codes_in(L);
        }
        break;
      case LayerType::relu:
      case LayerType::maxpool:
      case LayerType::flatten:
      case LayerType::dropout:
        P.role = PackedRole::same;
        P.codes_out = codes_in(L);
        break;
      case LayerType::clamp:
      case LayerType::avgpool:
      case LayerType::globalavgpool:
      case LayerType::add:
        P.role = PackedRole::float_layer;
        break;
    }
  }
  return plan;
}

void check_packable(const ModelSpec& spec, const PackedPlan& plan) {
  if (plan.abits < 32) return;
  for (size_t i = 0; i < spec.layers.size(); ++i)
    check(plan.layers[i].wbits == 32, "model ", spec.name, ": layer '", spec.layers[i].name, "' has ",
          plan.layers[i].wbits,
          "-bit weights but activations are 32-bit; the integer engine needs quantized activations "
          "(train with --abits 1..8), or keep the float checkpoint");
}

}  // namespace taper
