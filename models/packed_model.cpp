#include "models/packed_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/profiler.h"
#include "layers/add.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/pool.h"
#include "models/export.h"
#include "models/packed_plan.h"
#include "models/size.h"
#include "quant/int_conv.h"
#include "quant/int_gemm.h"
#include "quant/pack.h"
#include "quant/pool_codes.h"
#include "quant/residual_thresholds.h"
#include "quant/policy.h"
#include "quant/thresholds.h"

namespace taper {

// A value between layers: a-bit codes (u8) or float32, with its batch
// dimension first.
struct PackedModel::Value {
  bool codes = false;
  Shape shape;                 // (N, ...)
  std::vector<uint8_t> q;      // codes, when codes
  Var own;                     // a float value this layer computed itself
  Var* f = nullptr;            // the float value (own, or a float op's output)
};

namespace {

using Value = PackedModel::Value;

// What a forward writes for one layer, per worker: the layer's value and
// the float ops' own outputs and buffers.
struct LayerState {
  Value own;
  Value* out = nullptr;  // own, or the input's value for a layer that passes it on
  std::unique_ptr<Conv2d> conv;
  std::unique_ptr<Linear> linear;
  std::unique_ptr<MaxPool2d> maxpool;
  std::unique_ptr<AvgPool2d> avgpool;
  std::unique_ptr<GlobalAvgPool> gap;
  std::unique_ptr<Add> add;
  Var deq_a, deq_b;            // inputs dequantized from codes
  std::vector<int32_t> acc;    // int linear: (N, C) accumulators
  std::vector<int32_t> acc_t;  // int linear: (C, ldn) as int_gemm writes it
  std::vector<uint8_t> col;    // int linear: int_gemm column buffer
};

}  // namespace

// What a layer keeps: its plan, prepared weights and fusions; read-only
// during a forward, shared by the chunk workers.
struct PackedModel::Layer {
  const LayerSpec* L = nullptr;
  PackedLayer plan;
  // Fusions (same float ops in the same order, one pass instead of two):
  // an unfolded int layer computes its only reader's batch norm (bn_next);
  // a float batch norm or add whose only reader is a quantizing qact writes
  // that qact's codes (quantize_out); the absorbed layer passes the value on.
  // And a residual block's int layer whose batch norm feeds only such an
  // add writes the add's codes itself (add_next, when the add's other input,
  // add_other, is computed before the int layer); the add then passes the
  // int layer's value on (computed_by, the int layer's index).
  Layer* bn_next = nullptr;
  Layer* add_next = nullptr;
  int add_other = -1;
  // add_next with a shortcut of codes (abits <= 4): the block's end as
  // integer thresholds on (A, shortcut code) (quant/residual_thresholds.h).
  ResidualThresholds residual;
  bool has_residual = false;
  int computed_by = -1;
  bool quantize_out = false;
  bool relu_out = false;  // a float batch norm that also applies the ReLU after it
  bool absorbed = false;
  // int_layer
  std::unique_ptr<IntConv> iconv;      // conv
  IntGemmWeights gemm;                 // linear
  ActThresholds th;                    // folded
  std::vector<float> acc_scale;        // unfolded: (C)
  std::vector<float> bias;             // unfolded int_layer: (C) or empty
  // float conv/linear (float_layer, float_q_layer): the weights; each
  // worker has its own Conv2d / Linear (LayerState)
  bool float_conv = false, float_linear = false;
  Var weight, bias_var;
  // batch norm: (C) each
  std::vector<float> bn_mean, bn_scale, bn_shift;
  int64_t resident = 0;
  int64_t code_bytes = 0;  // int layers: the kernel's weights (part of resident)
};

// One worker's states: the input of its chunk and every layer's state.
struct PackedModel::Worker {
  Value input;
  std::vector<LayerState> s;
  Value boundary;  // worker 0: the chunks' values of layer tail_begin_ - 1, gathered (N, ...)
};

namespace {

using Layer = PackedModel::Layer;

// An unfolded int layer's float output from its accumulators A (images, C,
// HW): y_c = float(A) * acc_scale_c (+ bias_c), and with the batch norm
// after it (bn_next) in the same pass, (y - mean) * scale + shift — the same
// float ops, in the same order, as the two layers one after the other.
void acc_to_float(const Layer& l, const int32_t* A, int64_t images, int64_t C, int64_t HW, float* y) {
  const Layer* bn = l.bn_next;
  parallel_for(images * C, images * C * HW >= kMinParallelWork, [&](int64_t p) {
    const int64_t c = p % C;
    const float s = l.acc_scale[c], b = l.bias.empty() ? 0.0f : l.bias[c];
    if (!bn) {
      for (int64_t i = p * HW; i < (p + 1) * HW; ++i) y[i] = static_cast<float>(A[i]) * s + b;
      return;
    }
    const float mu = bn->bn_mean[c], scale = bn->bn_scale[c], shift = bn->bn_shift[c];
    for (int64_t i = p * HW; i < (p + 1) * HW; ++i) {
      const float v = static_cast<float>(A[i]) * s + b;
      y[i] = (v - mu) * scale + shift;
    }
  });
}

const std::string& meta(const SafeTensors& st, const std::string& key) {
  auto it = st.metadata.find(key);
  check(it != st.metadata.end(), st.source, ": packed model metadata has no \"", key,
        "\" (the file is not a complete taper packed model)");
  return it->second;
}

std::vector<double> meta_doubles(const SafeTensors& st, const std::string& key) {
  try {
    return nlohmann::json::parse(meta(st, key)).get<std::vector<double>>();
  } catch (const nlohmann::json::exception&) {
    fail(st.source, ": packed model metadata \"", key, "\" is not a JSON list of numbers");
  }
}

const StEntry& entry(const SafeTensors& st, const std::string& name) { return st.entries.at(name); }

// A float tensor's values; Error naming the tensor when one is not finite.
std::vector<float> floats(const SafeTensors& st, const std::string& name) {
  const StEntry& e = entry(st, name);
  std::vector<float> v(e.bytes.size() / 4);
  if (!v.empty()) std::memcpy(v.data(), e.bytes.data(), e.bytes.size());
  for (size_t i = 0; i < v.size(); ++i)
    check(std::isfinite(v[i]), st.source, ": tensor '", name, "' element ", i, " is ", v[i],
          " (corrupted file?)");
  return v;
}

Tensor float_tensor(const SafeTensors& st, const std::string& name, const Shape& shape) {
  std::vector<float> v = floats(st, name);
  return Tensor::from(shape, v);
}

// The weight codes of a quantized layer (n of them at k bits), unpacked.
std::vector<uint8_t> codes_of(const SafeTensors& st, const std::string& name, int64_t n, int k) {
  const StEntry& e = entry(st, name);
  const int64_t used = (n * k) % 8;
  if (used && !e.bytes.empty())
    check((static_cast<uint8_t>(e.bytes.back()) >> used) == 0, st.source, ": tensor '", name,
          "': the unused high bits of the last byte are not zero (corrupted file?)");
  std::vector<uint8_t> q(n);
  unpack_codes(reinterpret_cast<const uint8_t*>(e.bytes.data()), n, k, q.data());
  return q;
}

void dequantize(const Value& v, Var& out, float P) {
  out.data.resize(v.shape);
  float* y = out.data.data();
  const uint8_t* q = v.q.data();
  parallel_for_range(out.data.numel(), out.data.numel() >= kMinParallelWork, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = static_cast<float>(q[i]) / P;  // the quantizer's value p / P
  });
}

// act_code(x, P) = nearbyint(P clamp(x, 0, 1)) (quant/thresholds.h), written
// so that it vectorizes: for 0 <= v < 2^23, (v + 2^23) - 2^23 is v rounded
// to an integer in the current rounding mode (round half to even), exactly
// what nearbyint gives (-ffp-contract=off keeps both additions).
inline uint8_t code_of(float x, float P) {
  const float v = P * std::min(std::max(x, 0.0f), 1.0f);
  return static_cast<uint8_t>(static_cast<int>((v + 8388608.0f) - 8388608.0f));
}

// The loops that store codes are plain functions of restrict pointers and
// values: a u8 store may alias anything, so inside a lambda over captured
// references the compiler would reload them every element and not vectorize.
void codes_of(const float* __restrict x, int64_t n, float P, uint8_t* __restrict q) {
  for (int64_t i = 0; i < n; ++i) q[i] = code_of(x[i], P);
}

// Batch norm then codes: (x - mu) * scale + shift (layers/batchnorm.cpp), quantized.
void bn_codes(const float* __restrict x, int64_t n, float mu, float scale, float shift, float P,
              uint8_t* __restrict q) {
  for (int64_t i = 0; i < n; ++i) q[i] = code_of((x[i] - mu) * scale + shift, P);
}

// Codes of a + b, each input float (fa) or codes (qa) read as float(p) / P.
void add_codes(const float* __restrict fa, const uint8_t* __restrict qa, const float* __restrict fb,
               const uint8_t* __restrict qb, int64_t n, float P, uint8_t* __restrict q) {
  if (fa && fb)
    for (int64_t i = 0; i < n; ++i) q[i] = code_of(fa[i] + fb[i], P);
  else if (fa)
    for (int64_t i = 0; i < n; ++i) q[i] = code_of(fa[i] + static_cast<float>(qb[i]) / P, P);
  else if (fb)
    for (int64_t i = 0; i < n; ++i) q[i] = code_of(static_cast<float>(qa[i]) / P + fb[i], P);
  else
    for (int64_t i = 0; i < n; ++i) q[i] = code_of(static_cast<float>(qa[i]) / P + static_cast<float>(qb[i]) / P, P);
}

// One channel row of acc_bn_add_codes (restrict pointers: the u8 stores
// would otherwise keep the compiler from vectorizing).
void bn_add_codes_row(const int32_t* __restrict a, int64_t n, float s, float b, float mu, float scale, float shift,
                      const float* __restrict of, const uint8_t* __restrict oq, float P, uint8_t* __restrict q) {
  if (of) {
    for (int64_t i = 0; i < n; ++i) {
      const float v = static_cast<float>(a[i]) * s + b;
      q[i] = code_of((v - mu) * scale + shift + of[i], P);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const float v = static_cast<float>(a[i]) * s + b;
      q[i] = code_of((v - mu) * scale + shift + static_cast<float>(oq[i]) / P, P);
    }
  }
}

// A residual block's end in one pass: the unfolded int layer's accumulators
// A (images, C, HW), its batch norm (bn_next), the add with the other input
// (float `of`, or codes `oq` read as float(p) / P) and the qact after the add:
// codes of bn(float(A) * acc_scale_c (+ bias_c)) + other — the float ops of
// acc_to_float and add_codes, in their order (a float sum does not depend
// on the order of its two operands).
void acc_bn_add_codes(const Layer& l, const int32_t* A, int64_t images, int64_t C, int64_t HW, const float* of,
                      const uint8_t* oq, float P, uint8_t* q) {
  const Layer* bn = l.bn_next;
  parallel_for(images * C, images * C * HW >= kMinParallelWork, [&](int64_t p) {
    const int64_t c = p % C;
    bn_add_codes_row(A + p * HW, HW, l.acc_scale[c], l.bias.empty() ? 0.0f : l.bias[c], bn->bn_mean[c],
                     bn->bn_scale[c], bn->bn_shift[c], of ? of + p * HW : nullptr, oq ? oq + p * HW : nullptr, P,
                     q + p * HW);
  });
}

void quantize(const float* x, int64_t n, float P, uint8_t* q) {
  parallel_for_range(n, n >= kMinParallelWork, [&](int64_t b, int64_t e) { codes_of(x + b, e - b, P, q + b); });
}

}  // namespace

PackedModel::~PackedModel() = default;

PackedModel::PackedModel(const SafeTensors& st) : metadata_(st.metadata) {
  const std::string& file = st.source.empty() ? std::string("in-memory packed model") : st.source;
  check(is_packed_file(st), file, ": not a taper packed model (metadata \"format\" is not \"", kPackedFormat,
        "\"; make one with taper export)");
  check(meta(st, "format_version") == std::to_string(kPackedFormatVersion), file, ": packed format version \"",
        meta(st, "format_version"), "\", but this taper reads version ", kPackedFormatVersion,
        " (export the checkpoint again with this taper)");
  spec_ = parse_model_json(meta(st, "model_json"), file + " (packed model_json)");
  double width = 0.0;
  try {
    width = std::stod(meta(st, "width"));
  } catch (const std::logic_error&) {
    fail(file, ": packed model metadata \"width\" is not a number");
  }
  if (width != 1.0) spec_ = apply_width(spec_, width);
  wbits_ = meta(st, "wbits");
  const std::vector<int> stage_bits = parse_wbits(wbits_, spec_.num_stages);
  check(bits_to_string(stage_bits) == meta(st, "stage_bits"), file,
        ": packed model metadata \"stage_bits\" does not match \"wbits\"");
  abits_ = parse_abits(meta(st, "abits"));
  check(meta(st, "classes") == std::to_string(spec_.classes), file, ": packed model metadata \"classes\" is ",
        meta(st, "classes"), " but the model JSON has ", spec_.classes);
  const std::string& per_tensor = meta(st, "binarize_per_tensor");
  check(per_tensor == "0" || per_tensor == "1", file, ": metadata \"binarize_per_tensor\" must be \"0\" or \"1\"");
  const PackedPlan plan = plan_packed(spec_, stage_bits, abits_, per_tensor == "1");
  try {
    check_packable(spec_, plan);
  } catch (const Error& e) {
    fail(file, ": ", e.what());
  }
  mean_ = meta_doubles(st, "normalize_mean");
  std_ = meta_doubles(st, "normalize_std");
  check(mean_.size() == std_.size() && (mean_.empty() || int64_t(mean_.size()) == spec_.input[0]), file,
        ": the input normalization has ", mean_.size(), " means and ", std_.size(), " deviations for ",
        spec_.input[0], " input channels");
  for (double s : std_) check(s > 0.0 && std::isfinite(s), file, ": normalize_std holds ", s, " (must be > 0)");

  // The layer list in the metadata must describe the same plan.
  nlohmann::json layers;
  try {
    layers = nlohmann::json::parse(meta(st, "layers"));
  } catch (const nlohmann::json::exception&) {
    fail(file, ": packed model metadata \"layers\" is not JSON");
  }
  check(layers.is_array() && layers.size() == spec_.layers.size(), file, ": metadata \"layers\" must list the ",
        spec_.layers.size(), " layers of model ", spec_.name);
  for (size_t i = 0; i < spec_.layers.size(); ++i) {
    const nlohmann::json& row = layers[i];
    const LayerSpec& L = spec_.layers[i];
    bool ok = false;
    try {
      ok = row.is_object() && row.value("name", "") == L.name &&
           row.value("role", "") == packed_role_name(plan.layers[i].role) &&
           (!L.has_weights() || row.value("wbits", 0) == plan.layers[i].wbits);
    } catch (const nlohmann::json::exception&) {
      ok = false;  // a value of the wrong JSON type
    }
    check(ok, file, ": metadata \"layers\" entry ", i, " (", row.dump(), ") does not match layer '", L.name,
          "' of the model (role ", packed_role_name(plan.layers[i].role), ", ", plan.layers[i].wbits,
          " bits): mismatched packed file");
  }

  // Every planned tensor, with its dtype and shape, and nothing else.
  size_t planned = 0;
  for (const PackedLayer& pl : plan.layers)
    for (const PackedTensor& t : pl.tensors) {
      ++planned;
      auto it = st.entries.find(t.name);
      check(it != st.entries.end(), file, ": tensor '", t.name, "' is missing (model ", spec_.name, ", wbits ",
            wbits_, ", abits ", abits_, ")");
      check(it->second.dtype == t.dtype && it->second.shape == t.shape, file, ": tensor '", t.name, "' is ",
            it->second.dtype, " ", shape_str(it->second.shape), " but the model needs ", t.dtype, " ",
            shape_str(t.shape), ": mismatched packed file");
      check(int64_t(it->second.bytes.size()) == t.bytes(), file, ": tensor '", t.name, "' has ",
            it->second.bytes.size(), " bytes, expected ", t.bytes());
    }
  if (planned != st.entries.size())
    for (const auto& kv : st.entries) {
      bool known = false;
      for (const PackedLayer& pl : plan.layers)
        for (const PackedTensor& t : pl.tensors) known = known || t.name == kv.first;
      check(known, file, ": tensor '", kv.first, "' does not belong to packed model ", spec_.name,
            ": mismatched packed file");
    }

  // Build the layers.
  const float P = abits_ < 32 ? static_cast<float>((1 << abits_) - 1) : 0.0f;
  for (size_t i = 0; i < spec_.layers.size(); ++i) {
    auto l = std::make_unique<Layer>();
    l->L = &spec_.layers[i];
    l->plan = plan.layers[i];
    const LayerSpec& L = *l->L;
    const PackedLayer& pl = l->plan;
    const std::string& name = L.name;
    if (L.has_weights() && pl.wbits < 32) {
      const int k = pl.wbits;
      const int64_t C = L.out_shape[0], n = weight_params(L);
      const std::vector<uint8_t> q = codes_of(st, name + ".weight", n, k);
      std::vector<float> s;  // binarizer scales per output channel
      if (k == 1) {
        s = floats(st, name + ".scale");
        if (s.size() == 1) s.assign(C, s[0]);
      }
      if (L.bias) l->bias = floats(st, name + ".bias");
      if (pl.role == PackedRole::int_layer) {
        if (L.type == LayerType::conv) {
          IntConvGeom g;
          g.IC = L.in_shape[0], g.OC = C, g.KH = L.kernel_h, g.KW = L.kernel_w;
          g.SH = L.stride_h, g.SW = L.stride_w, g.PH = L.pad_h, g.PW = L.pad_w, g.groups = L.groups;
          l->iconv =
              std::make_unique<IntConv>(g, q.data(), k, abits_, preferred_conv_kernel(g, L.in_shape[2], k, abits_));
          l->code_bytes = l->iconv->resident_bytes();
        } else {
          l->gemm = prepare_int_gemm(q.data(), C, L.in_shape[0], k, abits_,
                                     preferred_int_kernel(k, abits_, L.in_shape[0]));
          l->code_bytes = l->gemm.resident_bytes();
        }
        l->resident += l->code_bytes;
        if (pl.folded) {
          const std::string bn = [&] {
            for (size_t j = i + 1; j < spec_.layers.size(); ++j)
              if (plan.layers[j].role == PackedRole::folded_bn && spec_.layers[j].inputs[0] == int(i))
                return spec_.layers[j].name;
            fail(file, ": internal error: no folded batch norm after '", name, "'");
          }();
          ActThresholds& th = l->th;
          th.abits = abits_, th.C = C, th.P = (int64_t(1) << abits_) - 1;
          const StEntry& d = entry(st, bn + ".direction");
          th.dir.resize(C);
          std::memcpy(th.dir.data(), d.bytes.data(), C);
          const StEntry& u = entry(st, bn + ".thresholds");
          th.u.resize(C * th.P);
          std::memcpy(th.u.data(), u.bytes.data(), u.bytes.size());
          for (int64_t c = 0; c < C; ++c) {
            check(th.dir[c] >= -1 && th.dir[c] <= 1, file, ": tensor '", bn, ".direction' channel ", c, " is ",
                  int(th.dir[c]), " (must be -1, 0 or 1; corrupted file?)");
            for (int64_t t = 1; t < th.P; ++t)
              check(th.u[c * th.P + t - 1] <= th.u[c * th.P + t], file, ": tensor '", bn, ".thresholds' channel ",
                    c, " is not non-decreasing (corrupted file?)");
          }
          l->resident += 4 * int64_t(th.u.size()) + C;
        } else {
          const int64_t Lk = code_max(k);
          l->acc_scale.resize(C);
          for (int64_t c = 0; c < C; ++c)
            l->acc_scale[c] = static_cast<float>((k == 1 ? double(s[c]) : 1.0) / (double(Lk) * double(P)));
          l->resident += 4 * (C + int64_t(l->bias.size()));
        }
      } else {  // float_q_layer: the training grid, expanded once
        Shape ws = L.type == LayerType::conv ? Shape{C, L.in_shape[0] / L.groups, L.kernel_h, L.kernel_w}
                                             : Shape{C, L.in_shape[0]};
        l->weight = Var(Tensor(ws));
        float* w = l->weight.data.data();
        const int64_t per_row = n / C;
        for (int64_t j = 0; j < n; ++j) w[j] = code_to_grid(q[j], k, k == 1 ? s[j / per_row] : 1.0f);
        if (L.bias) l->bias_var = Var(Tensor::from({C}, l->bias));
        l->resident += 4 * (n + int64_t(l->bias.size()));
      }
    } else if (L.has_weights()) {  // full precision
      const int64_t C = L.out_shape[0];
      Shape ws = L.type == LayerType::conv ? Shape{C, L.in_shape[0] / L.groups, L.kernel_h, L.kernel_w}
                                           : Shape{C, L.in_shape[0]};
      l->weight = Var(float_tensor(st, name + ".weight", ws));
      if (L.bias) l->bias_var = Var(float_tensor(st, name + ".bias", {C}));
      l->resident += 4 * (l->weight.data.numel() + l->bias_var.data.numel());
    }
    if (L.has_weights() && pl.role != PackedRole::int_layer) {
      l->float_conv = L.type == LayerType::conv;
      l->float_linear = !l->float_conv;
    }
    if (L.type == LayerType::batchnorm && pl.role == PackedRole::float_layer) {
      l->bn_mean = floats(st, name + ".mean");
      l->bn_scale = floats(st, name + ".scale");
      l->bn_shift = floats(st, name + ".shift");
      l->resident += 12 * int64_t(l->bn_mean.size());
    }
    layers_.push_back(std::move(l));
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = *layers_[i];
    const std::vector<int> readers = [&] {
      std::vector<int> r;
      for (size_t j = 0; j < spec_.layers.size(); ++j)
        for (int in : spec_.layers[j].inputs)
          if (in == int(i)) r.push_back(int(j));
      return r;
    }();
    if (readers.size() != 1) continue;
    Layer& r = *layers_[readers[0]];
    const bool float_bn = r.L->type == LayerType::batchnorm && r.plan.role == PackedRole::float_layer;
    if (l.plan.role == PackedRole::int_layer && !l.plan.folded && float_bn) {
      l.bn_next = &r;
      r.absorbed = true;
    }
    const bool float_bn_or_add = (l.L->type == LayerType::batchnorm || l.L->type == LayerType::add) &&
                                 l.plan.role == PackedRole::float_layer;
    if (float_bn_or_add && !l.absorbed && r.plan.role == PackedRole::quantize) {
      l.quantize_out = true;
      r.absorbed = true;
    }
    // A float batch norm whose only reader is a ReLU on floats (resnet20's
    // stem): both in one pass, the same float ops.
    const bool float_relu = r.L->type == LayerType::relu &&
                            (r.plan.role == PackedRole::same || r.plan.role == PackedRole::float_layer);
    if (l.L->type == LayerType::batchnorm && l.plan.role == PackedRole::float_layer && !l.absorbed &&
        !l.quantize_out && float_relu) {
      l.relu_out = true;
      r.absorbed = true;
    }
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = *layers_[i];
    if (!l.bn_next) continue;
    int bn_index = -1;
    for (size_t j = 0; j < layers_.size(); ++j)
      if (layers_[j].get() == l.bn_next) bn_index = int(j);
    std::vector<int> readers;
    for (size_t j = 0; j < spec_.layers.size(); ++j)
      for (int in : spec_.layers[j].inputs)
        if (in == bn_index) readers.push_back(int(j));
    if (readers.size() != 1) continue;
    Layer& add = *layers_[readers[0]];
    if (add.L->type != LayerType::add || !add.quantize_out || add.L->inputs.size() != 2) continue;
    const int other = add.L->inputs[0] == bn_index ? add.L->inputs[1] : add.L->inputs[0];
    if (other >= int(i) || other == bn_index) continue;  // not computed yet when the int layer runs
    l.add_next = &add;
    l.add_other = other;
    add.computed_by = int(i);
    if (abits_ <= 4 && l.L->type == LayerType::conv) {
      const LayerSpec& L = *l.L;
      const int64_t C = L.out_shape[0], K = L.in_shape[0] / L.groups * L.kernel_h * L.kernel_w;
      const int64_t amax = K * code_max(l.plan.wbits) * code_max(abits_);
      if (amax <= 2147483646) {
        std::vector<ResidualChannel> ch(C);
        for (int64_t c = 0; c < C; ++c)
          ch[c] = ResidualChannel{l.acc_scale[c], l.bias.empty() ? 0.0f : l.bias[c], l.bn_next->bn_mean[c],
                                  l.bn_next->bn_scale[c], l.bn_next->bn_shift[c]};
        l.residual = fold_residual_thresholds(ch, abits_, -int32_t(amax), int32_t(amax));
        l.has_residual = true;
        l.resident += 4 * int64_t(l.residual.u.size()) + C;
      }
    }
  }
  // Chunks: from the input up to the first linear layer (the convolutions,
  // whose activations are large), when the layers after it read only it and
  // their own values and no fusion crosses it; the linear layers run on the
  // whole batch (an int linear layer's GEMM columns are the batch's images).
  for (size_t i = 1; i < layers_.size() && !tail_begin_; ++i)
    if (spec_.layers[i].type == LayerType::linear) tail_begin_ = i;
  for (size_t j = tail_begin_; tail_begin_ && j < layers_.size(); ++j) {
    bool ok = !layers_[j]->absorbed && layers_[j]->computed_by < 0;
    for (int in : spec_.layers[j].inputs) ok = ok && in >= int(tail_begin_) - 1;
    if (!ok) tail_begin_ = 0;
  }
}

int64_t PackedModel::resident_weight_bytes() const {
  int64_t sum = 0;
  for (const auto& l : layers_) sum += l->resident;
  return sum;
}

int64_t PackedModel::resident_code_bytes() const {
  int64_t sum = 0;
  for (const auto& l : layers_) sum += l->code_bytes;
  return sum;
}

// The float ops of layer l, for one worker (each worker's ops keep their own
// outputs and workspaces).
void make_ops(const Layer& l, LayerState& st) {
  const LayerSpec& L = *l.L;
  if (l.float_conv) {
    Conv2dParams p;
    p.in_channels = L.in_shape[0], p.out_channels = L.out_channels;
    p.kernel_h = L.kernel_h, p.kernel_w = L.kernel_w, p.stride_h = L.stride_h, p.stride_w = L.stride_w;
    p.pad_h = L.pad_h, p.pad_w = L.pad_w, p.groups = L.groups;
    st.conv = std::make_unique<Conv2d>(p);
  }
  if (l.float_linear) st.linear = std::make_unique<Linear>();
  if (L.type == LayerType::maxpool) st.maxpool = std::make_unique<MaxPool2d>(L.kernel_h, L.stride_h, L.pad_h);
  if (L.type == LayerType::avgpool) st.avgpool = std::make_unique<AvgPool2d>(L.kernel_h, L.stride_h, L.pad_h);
  if (L.type == LayerType::globalavgpool) st.gap = std::make_unique<GlobalAvgPool>();
  if (L.type == LayerType::add) st.add = std::make_unique<Add>();
}

PackedModel::Worker& PackedModel::worker(int t) {
  while (int(workers_.size()) <= t) {
    auto w = std::make_unique<Worker>();
    w->s.resize(layers_.size());
    for (size_t i = 0; i < layers_.size(); ++i) make_ops(*layers_[i], w->s[i]);
    workers_.push_back(std::move(w));
  }
  return *workers_[t];
}

const Tensor& PackedModel::forward(const Tensor& x) {
  check(x.ndim() == 4 && x.dim(1) == spec_.input[0] && x.dim(2) == spec_.input[1] && x.dim(3) == spec_.input[2],
        spec_.name, " (packed): input ", shape_str(x.shape()), " does not match the model's (N, ", spec_.input[0],
        ", ", spec_.input[1], ", ", spec_.input[2], ")");
  const int64_t N = x.dim(0), image = x.numel() / std::max<int64_t>(N, 1);
  const int T = num_threads();
  // Chunks of about chunk_images_ images, as many per thread; fewer images
  // than threads: one chunk, the layers' own loops parallel.
  int64_t chunks = tail_begin_ > 0 && chunk_images_ > 0 ? (N + chunk_images_ - 1) / chunk_images_ : 1;
  chunks = (chunks + T - 1) / T * T;
  if (chunks > N) chunks = N < T ? 1 : N;
  const size_t all = layers_.size();
  if (chunks <= 1) {
    Worker& w = worker(0);
    w.input.own.data.copy_from(x);
    run_layers(w, 0, all, nullptr);
    const Value& last = *w.s[all - 1].out;
    check(!last.codes, spec_.name, ": the last layer must output float logits");
    return last.f->data;
  }
  // Layers [0, tail_begin_) chunk by chunk, each chunk on one thread with
  // its worker's buffers; the chunks' values of layer tail_begin_ - 1 are
  // gathered into worker 0's `boundary`, from which the tail runs on the whole batch.
  for (int t = 0; t < T; ++t) worker(t);
  Worker& w0 = *workers_[0];
  const int b = int(tail_begin_) - 1;
  const LayerSpec& B = spec_.layers[b];
  Shape bs{N};
  bs.append(B.out_shape.begin(), B.out_shape.end());
  const int64_t per = shape_numel(B.out_shape);
  w0.boundary.shape = bs;
  w0.boundary.q.resize(N * per);  // the boundary holds codes or floats: room for either
  w0.boundary.own.data.resize(bs);
  w0.boundary.f = &w0.boundary.own;
  parallel_for(chunks, true, [&](int64_t c) {
    int64_t n0, n1;
    split_range(N, int(chunks), int(c), n0, n1);
    Worker& w = *workers_[thread_index()];
    Shape xs = x.shape();
    xs[0] = n1 - n0;
    w.input.own.data.resize(xs);
    std::memcpy(w.input.own.data.data(), x.data() + n0 * image, sizeof(float) * (n1 - n0) * image);
    run_layers(w, 0, tail_begin_, nullptr);
    const Value& v = *w.s[b].out;
    if (v.codes)
      std::memcpy(w0.boundary.q.data() + n0 * per, v.q.data(), (n1 - n0) * per);
    else
      std::memcpy(w0.boundary.own.data.data() + n0 * per, v.f->data.data(), sizeof(float) * (n1 - n0) * per);
  });
  w0.boundary.codes = w0.s[b].out->codes;  // the same in every chunk
  run_layers(w0, tail_begin_, all, &w0.boundary);
  const Value& last = *w0.s[all - 1].out;
  check(!last.codes, spec_.name, ": the last layer must output float logits");
  return last.f->data;
}

// Layers [first, last) of a forward on worker w: its input (layer -1) is
// w.input, layer first - 1's value is *before when given (the gathered
// boundary), other values are w's.
void PackedModel::run_layers(Worker& w, size_t first, size_t last, Value* before) {
  const int64_t N = before ? before->shape[0] : w.input.own.data.dim(0);
  const float P = abits_ < 32 ? static_cast<float>((1 << abits_) - 1) : 1.0f;
  Tape tape;
  tape.set_recording(false);
  Value& input = w.input;
  input.f = &input.own;
  input.codes = false;
  input.shape = input.own.data.shape();
  auto value = [&](int i) -> Value& {
    if (i < 0) return input;
    if (before && i == int(first) - 1) return *before;
    return *w.s[i].out;
  };
  auto as_float = [&](Value& v, Var& scratch) -> Var& {
    if (!v.codes) return *v.f;
    dequantize(v, scratch, P);
    return scratch;
  };
  auto batched = [&](const Shape& per_sample) {
    Shape s{N};
    s.append(per_sample.begin(), per_sample.end());
    return s;
  };
  // The profiler's table is not thread-safe: inside chunks, only thread 0's
  // layers are timed (the other threads run the same layers on their chunks).
  const bool profile = thread_index() == 0;

  for (size_t li = first; li < last; ++li) {
    Layer& l = *layers_[li];
    LayerState& st = w.s[li];
    const LayerSpec& L = *l.L;
    Value& a = value(L.inputs[0]);
    Value& o = st.own;
    st.out = &o;
    std::optional<ProfileScope> scope;
    if (profile) scope.emplace(layer_type_name(L.type), packed_role_name(l.plan.role));
    o.shape = batched(L.out_shape);
    switch (l.plan.role) {
      case PackedRole::int_layer: {
        check(a.codes, spec_.name, ": internal error: layer '", L.name, "' expects codes");
        const int64_t C = L.out_shape[0];
        const Value* other = l.add_next ? &value(l.add_other) : nullptr;
        if (l.plan.folded || other) {
          o.codes = true;
          o.q.resize(shape_numel(o.shape));
        } else {
          o.codes = false;
          o.own.data.resize(o.shape);
          o.f = &o.own;
        }
        // The accumulators of `images` images (images, C, HW) -> the output
        // at image n0: the thresholds' codes (folded) or the float values.
        auto finish = [&](const int32_t* A, int64_t n0, int64_t images, int64_t HW) {
          if (l.plan.folded)
            apply_thresholds(l.th, A, images, HW, o.q.data() + n0 * C * HW);
          else if (other && other->codes && l.has_residual)
            apply_residual_thresholds(l.residual, A, other->q.data() + n0 * C * HW, images, HW,
                                      o.q.data() + n0 * C * HW);
          else if (other)
            acc_bn_add_codes(l, A, images, C, HW, other->codes ? nullptr : other->f->data.data() + n0 * C * HW,
                             other->codes ? other->q.data() + n0 * C * HW : nullptr, P, o.q.data() + n0 * C * HW);
          else
            acc_to_float(l, A, images, C, HW, o.own.data.data() + n0 * C * HW);
        };
        if (L.type == LayerType::conv) {
          // One image at a time: its accumulators stay in the thread's cache.
          const int64_t HW = L.out_shape[1] * L.out_shape[2];
          l.iconv->forward(a.q.data(), N, a.shape[2], a.shape[3],
                           [&](int64_t n, const int32_t* A) { finish(A, n, 1, HW); });
        } else {
          const int64_t K = L.in_shape[0], ldn = int_gemm_ldn(N);
          st.col.resize(int_gemm_col_bytes(l.gemm, ldn));
          pack_int_gemm_cols(l.gemm, a.q.data(), 1, K, N, st.col.data(), ldn);
          st.acc_t.resize(C * ldn);
          int_gemm(l.gemm, st.col.data(), ldn, N, st.acc_t.data(), ldn);
          st.acc.resize(N * C);
          for (int64_t m = 0; m < C; ++m)
            for (int64_t j = 0; j < N; ++j) st.acc[j * C + m] = st.acc_t[m * ldn + j];
          finish(st.acc.data(), 0, N, 1);
        }
        break;
      }
      case PackedRole::float_q_layer:
      case PackedRole::float_layer:
        o.codes = false;
        switch (L.type) {
          case LayerType::conv:
          case LayerType::linear: {
            Var& xin = as_float(a, st.deq_a);
            Var* b = L.bias ? &l.bias_var : nullptr;
            o.f = st.conv ? &st.conv->forward(xin, l.weight, b, tape) : &st.linear->forward(xin, l.weight, b, tape);
            break;
          }
          case LayerType::batchnorm: {
            if (l.absorbed) {  // computed by the int layer before it
              st.out = &a;
              break;
            }
            const Tensor& xin = as_float(a, st.deq_a).data;
            const int64_t C = xin.dim(1), HW = xin.numel() / (N * C);
            const float* xp = xin.data();
            float* yp = nullptr;
            uint8_t* qp = nullptr;
            if (l.quantize_out) {
              o.codes = true;
              o.q.resize(xin.numel());
              qp = o.q.data();
            } else {
              o.own.data.resize(xin.shape());
              yp = o.own.data.data();
              o.f = &o.own;
            }
            parallel_for(N * C, xin.numel() >= kMinParallelWork, [&](int64_t p) {
              const int64_t c = p % C;
              const float mu = l.bn_mean[c], scale = l.bn_scale[c], shift = l.bn_shift[c];
              const float* xc = xp + p * HW;
              if (qp) {
                bn_codes(xc, HW, mu, scale, shift, P, qp + p * HW);
              } else {
                float* yc = yp + p * HW;
                if (l.relu_out)
                  for (int64_t i = 0; i < HW; ++i) {
                    const float v = (xc[i] - mu) * scale + shift;  // layers/batchnorm.cpp
                    yc[i] = v > 0.0f ? v : 0.0f;                   // the ReLU after it
                  }
                else
                  for (int64_t i = 0; i < HW; ++i) yc[i] = (xc[i] - mu) * scale + shift;  // layers/batchnorm.cpp
              }
            });
            break;
          }
          case LayerType::qact:  // abits 32: a ReLU
          case LayerType::relu: {
            if (l.absorbed) {  // the batch norm before it applied it
              st.out = &a;
              break;
            }
            const Tensor& xin = as_float(a, st.deq_a).data;
            o.own.data.resize(xin.shape());
            for (int64_t i = 0; i < xin.numel(); ++i) o.own.data[i] = xin[i] > 0.0f ? xin[i] : 0.0f;
            o.f = &o.own;
            break;
          }
          case LayerType::clamp: {
            const Tensor& xin = as_float(a, st.deq_a).data;
            o.own.data.resize(xin.shape());
            for (int64_t i = 0; i < xin.numel(); ++i) o.own.data[i] = std::min(std::max(xin[i], L.lo), L.hi);
            o.f = &o.own;
            break;
          }
          case LayerType::avgpool: o.f = &st.avgpool->forward(as_float(a, st.deq_a), tape); break;
          case LayerType::globalavgpool: o.f = &st.gap->forward(as_float(a, st.deq_a), tape); break;
          case LayerType::add: {
            if (l.computed_by >= 0) {  // the int layer of the branch wrote the codes
              st.out = w.s[l.computed_by].out;
              break;
            }
            Value& vb = value(L.inputs[1]);
            if (!l.quantize_out) {
              o.f = &st.add->forward(as_float(a, st.deq_a), as_float(vb, st.deq_b), tape);
              break;
            }
            // The qact after it, in the same pass: codes of a + b, each input
            // float or codes read as float(p) / P (the value dequantize gives).
            o.codes = true;
            const int64_t n = shape_numel(a.shape);
            o.q.resize(n);
            uint8_t* q = o.q.data();
            const float* fa = a.codes ? nullptr : a.f->data.data();
            const float* fb = vb.codes ? nullptr : vb.f->data.data();
            const uint8_t* qa = a.codes ? a.q.data() : nullptr;
            const uint8_t* qb = vb.codes ? vb.q.data() : nullptr;
            parallel_for_range(n, n >= kMinParallelWork, [&](int64_t b, int64_t e) {
              add_codes(fa ? fa + b : nullptr, qa ? qa + b : nullptr, fb ? fb + b : nullptr, qb ? qb + b : nullptr,
                        e - b, P, q + b);
            });
            break;
          }
          default: fail(spec_.name, ": internal error: layer '", L.name, "' has no float form");
        }
        break;
      case PackedRole::quantize: {
        if (l.absorbed) {  // the batch norm or add before it wrote the codes
          st.out = &a;
          break;
        }
        const Tensor& xin = a.f->data;
        o.codes = true;
        o.q.resize(xin.numel());
        quantize(xin.data(), xin.numel(), P, o.q.data());
        break;
      }
      case PackedRole::folded_bn:
      case PackedRole::folded_act: st.out = &a; break;  // the conv before computed the codes
      case PackedRole::same:
        switch (L.type) {
          case LayerType::maxpool:
            if (a.codes) {
              o.codes = true;
              const int64_t C = a.shape[1], H = a.shape[2], W = a.shape[3];
              const int64_t OH = L.out_shape[1], OW = L.out_shape[2];
              const int64_t k = L.kernel_h, s = L.stride_h, pad = L.pad_h;
              o.q.resize(N * C * OH * OW);
              const uint8_t* x = a.q.data();
              uint8_t* y = o.q.data();
              parallel_for(N * C, N * C * H * W >= kMinParallelWork, [&](int64_t p) {
                maxpool_codes(x + p * H * W, H, W, k, s, pad, OH, OW, y + p * OH * OW);
              });
            } else {
              o.codes = false;
              o.f = &st.maxpool->forward(*a.f, tape);
            }
            break;
          case LayerType::flatten:
            o.codes = a.codes;
            if (a.codes) {
              o.q = a.q;
            } else {
              o.own.data.resize(o.shape);  // same numel: a reshape
              std::memcpy(o.own.data.data(), a.f->data.data(), sizeof(float) * o.own.data.numel());
              o.f = &o.own;
            }
            break;
          case LayerType::relu:
            if (l.absorbed) {  // the batch norm before it applied it
              st.out = &a;
              break;
            }
            if (!a.codes) {
              o.codes = false;
              o.own.data.resize(a.f->data.shape());
              for (int64_t i = 0; i < o.own.data.numel(); ++i) {
                const float v = a.f->data[i];
                o.own.data[i] = v > 0.0f ? v : 0.0f;
              }
              o.f = &o.own;
              break;
            }
            st.out = &a;  // codes are >= 0
            break;
          default: st.out = &a; break;  // dropout (eval), a qact on codes of the same bits
        }
        break;
    }
  }
}

}  // namespace taper
