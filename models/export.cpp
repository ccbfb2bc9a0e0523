#include "models/export.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "models/packed_plan.h"
#include "models/size.h"
#include "quant/binarize.h"
#include "quant/pack.h"
#include "quant/policy.h"
#include "quant/thresholds.h"
#include "quant/weight_quant.h"

namespace taper {

bool is_packed_file(const SafeTensors& st) {
  auto it = st.metadata.find("format");
  return it != st.metadata.end() && it->second == kPackedFormat;
}

namespace {

template <typename T>
StEntry raw_entry(const char* dtype, const Shape& shape, const T* v, int64_t n) {
  StEntry e{dtype, shape, std::vector<char>(sizeof(T) * n)};
  if (n) std::memcpy(e.bytes.data(), v, e.bytes.size());
  return e;
}

// A quantized layer's weight: its codes (n) and, for 1 bit, the binarizer's
// scales (rows), computed by the training quantizers themselves.
struct Quantized {
  std::vector<uint8_t> codes;
  std::vector<float> scale;  // k = 1: s per row (all equal with a per-tensor scale)
};

Quantized quantize_weight(const Tensor& w, int k, bool per_tensor, const std::string& name) {
  const int64_t rows = w.dim(0), cols = w.numel() / rows;
  std::vector<float> grid(w.numel());
  Quantized q;
  if (k == 1) {
    q.scale.resize(rows);
    binarize(w.data(), grid.data(), q.scale.data(), rows, cols, per_tensor);
  } else {
    weight_quantize(w.data(), grid.data(), rows, cols, k);
  }
  q.codes.resize(w.numel());
  grid_to_codes(grid.data(), w.numel(), k, q.codes.data(), name.c_str());
  return q;
}

}  // namespace

SafeTensors export_packed(const Model& model, const std::string& wbits, double width,
                          const std::vector<double>& mean, const std::vector<double>& std,
                          const std::map<std::string, std::string>& extra) {
  const ModelSpec& spec = model.spec();
  const BuildOptions& opt = model.options();
  const PackedPlan plan = plan_packed(spec, opt.stage_bits, opt.abits, opt.binarize_per_tensor);
  check_packable(spec, plan);
  check(mean.size() == std.size() && (mean.empty() || int64_t(mean.size()) == spec.input[0]),
        "export: the input normalization has ", mean.size(), " means and ", std.size(), " deviations for ",
        spec.input[0], " input channels");
  SafeTensors w;  // the float model's tensors
  model.save(w);
  SafeTensors out;
  nlohmann::json layers = nlohmann::json::array();
  const int64_t P = opt.abits < 32 ? (int64_t(1) << opt.abits) - 1 : 0;

  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& L = spec.layers[i];
    const PackedLayer& pl = plan.layers[i];
    nlohmann::json row = {{"name", L.name}, {"type", layer_type_name(L.type)}, {"role", packed_role_name(pl.role)}};
    if (L.has_weights()) {
      const Tensor weight = w.get(L.name + ".weight");
      row["wbits"] = pl.wbits;
      row["weight_shape"] = std::vector<int64_t>(weight.shape().begin(), weight.shape().end());
      if (pl.wbits == 32) {
        out.put(L.name + ".weight", weight);
      } else {
        const int k = pl.wbits;
        const Quantized q = quantize_weight(weight, k, opt.binarize_per_tensor, L.name + ".weight");
        std::vector<uint8_t> packed(packed_size(weight.numel(), k));
        pack_codes(q.codes.data(), weight.numel(), k, packed.data());
        out.entries[L.name + ".weight"] = raw_entry("U8", {int64_t(packed.size())}, packed.data(), packed.size());
        if (k == 1) {  // kept even where thresholds fold it: the file gives every weight's grid value
          const int64_t ns = opt.binarize_per_tensor ? 1 : int64_t(q.scale.size());
          out.entries[L.name + ".scale"] = raw_entry("F32", {ns}, q.scale.data(), ns);
        }
        if (pl.folded) {
          // The batch norm after this layer and the qact after it become
          // thresholds on the accumulator A: y = float(A) * acc_scale_c,
          // acc_scale_c = s_c / (L P) (s_c = 1 for k >= 2), in double, rounded once.
          const int bn = [&] {
            for (size_t j = i + 1; j < spec.layers.size(); ++j)
              if (plan.layers[j].role == PackedRole::folded_bn && spec.layers[j].inputs[0] == int(i)) return int(j);
            fail("export: internal error: no folded batch norm after layer '", L.name, "'");
          }();
          const LayerSpec& B = spec.layers[bn];
          const int64_t C = B.out_shape[0];
          const int64_t Lk = code_max(k), K = weight.numel() / C;
          std::vector<float> acc_scale(C);
          for (int64_t c = 0; c < C; ++c)
            acc_scale[c] = static_cast<float>((k == 1 ? double(q.scale[c]) : 1.0) / (double(Lk) * double(P)));
          const Tensor gamma = w.get(B.name + ".weight"), beta = w.get(B.name + ".bias");
          const Tensor rm = w.get(B.name + ".running_mean"), rv = w.get(B.name + ".running_var");
          const int64_t amax = K * Lk * P;
          check(amax < (int64_t(1) << 31) - 2, "export: layer '", L.name, "' can reach accumulators of ", amax,
                ", too large for int32 thresholds");
          const ActThresholds th = fold_thresholds(
              fold_batchnorm(acc_scale.data(), gamma.data(), beta.data(), rm.data(), rv.data(), B.eps, C), opt.abits,
              -int32_t(amax), int32_t(amax));
          out.entries[B.name + ".thresholds"] = raw_entry("I32", {C, P}, th.u.data(), th.u.size());
          out.entries[B.name + ".direction"] = raw_entry("I8", {C}, th.dir.data(), th.dir.size());
        }
      }
      if (L.bias) out.put(L.name + ".bias", w.get(L.name + ".bias"));
    } else if (L.type == LayerType::batchnorm && pl.role == PackedRole::float_layer) {
      // Eval-mode batch norm as the float engine computes it (layers/batchnorm.cpp):
      // y = (x - mean) * scale + shift, scale = gamma * float(1 / sqrt(double(var) + eps)), shift = beta.
      const Tensor gamma = w.get(L.name + ".weight"), var = w.get(L.name + ".running_var");
      Tensor scale(gamma.shape());
      for (int64_t c = 0; c < gamma.numel(); ++c) scale[c] = gamma[c] * bn_invstd(var[c], L.eps);
      out.put(L.name + ".mean", w.get(L.name + ".running_mean"));
      out.put(L.name + ".scale", scale);
      out.put(L.name + ".shift", w.get(L.name + ".bias"));
    }
    nlohmann::json names = nlohmann::json::array();
    for (const PackedTensor& t : pl.tensors) names.push_back(t.name);
    row["tensors"] = names;
    layers.push_back(row);
  }

  // Every tensor the plan lists, with its dtype and shape, and nothing else.
  size_t expected = 0;
  for (const PackedLayer& pl : plan.layers)
    for (const PackedTensor& t : pl.tensors) {
      ++expected;
      auto it = out.entries.find(t.name);
      check(it != out.entries.end() && it->second.dtype == t.dtype && it->second.shape == t.shape,
            "export: internal error: tensor '", t.name, "' does not match the packed plan");
    }
  check(expected == out.entries.size(), "export: internal error: tensors outside the packed plan");

  char wtext[64];
  std::snprintf(wtext, sizeof wtext, "%.17g", width);
  out.metadata = extra;
  out.metadata["format"] = kPackedFormat;
  out.metadata["format_version"] = std::to_string(kPackedFormatVersion);
  out.metadata["model_json"] = spec.json_text;
  out.metadata["model_name"] = spec.name;
  out.metadata["width"] = wtext;
  out.metadata["wbits"] = wbits;
  out.metadata["stage_bits"] = bits_to_string(opt.stage_bits);
  out.metadata["abits"] = std::to_string(opt.abits);
  out.metadata["classes"] = std::to_string(spec.classes);
  out.metadata["binarize_per_tensor"] = opt.binarize_per_tensor ? "1" : "0";
  out.metadata["normalize_mean"] = nlohmann::json(mean).dump();
  out.metadata["normalize_std"] = nlohmann::json(std).dump();
  out.metadata["layers"] = layers.dump();
  return out;
}

}  // namespace taper
