#include "models/model_spec.h"

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

#include "engine/error.h"

namespace taper {

using json = nlohmann::json;

namespace {

// Reads keys of one JSON object strictly: every key must be consumed by a
// getter, and finish() rejects the ones that were not.
class Keys {
 public:
  Keys(const json& obj, std::string where) : obj_(obj), where_(std::move(where)) {}

  bool has(const char* key) const { return obj_.contains(key); }

  const json& raw(const char* key) {
    used_.insert(key);
    if (!obj_.contains(key)) fail(where_, ": missing key \"", key, "\"");
    return obj_.at(key);
  }

  std::string str(const char* key) {
    const json& v = raw(key);
    if (!v.is_string()) fail(where_, ": \"", key, "\" must be a string, got ", v.dump());
    return v.get<std::string>();
  }

  int64_t integer(const char* key, int64_t lo, int64_t hi) {
    return check_int(raw(key), key, lo, hi);
  }
  int64_t integer_or(const char* key, int64_t fallback, int64_t lo, int64_t hi) {
    return has(key) ? integer(key, lo, hi) : fallback;
  }

  // An int or a [h, w] pair of ints.
  void pair(const char* key, int64_t& h, int64_t& w, int64_t lo) {
    const json& v = raw(key);
    if (v.is_array()) {
      if (v.size() != 2) fail(where_, ": \"", key, "\" must be an integer or [h, w], got ", v.dump());
      h = check_int(v[0], key, lo, 1 << 20);
      w = check_int(v[1], key, lo, 1 << 20);
    } else {
      h = w = check_int(v, key, lo, 1 << 20);
    }
  }

  double number(const char* key, double lo, double hi, bool hi_open = false) {
    const json& v = raw(key);
    if (!v.is_number()) fail(where_, ": \"", key, "\" must be a number, got ", v.dump());
    double x = v.get<double>();
    if (!(x >= lo && (hi_open ? x < hi : x <= hi)))
      fail(where_, ": \"", key, "\" = ", x, " is out of range [", lo, ", ", hi, hi_open ? ")" : "]");
    return x;
  }

  bool boolean_or(const char* key, bool fallback) {
    if (!has(key)) return fallback;
    const json& v = raw(key);
    if (!v.is_boolean()) fail(where_, ": \"", key, "\" must be true or false, got ", v.dump());
    return v.get<bool>();
  }

  void finish() const {
    for (auto it = obj_.begin(); it != obj_.end(); ++it)
      if (!used_.count(it.key())) fail(where_, ": unknown key \"", it.key(), "\"");
  }

  const std::string& where() const { return where_; }

 private:
  int64_t check_int(const json& v, const char* key, int64_t lo, int64_t hi) {
    if (!v.is_number_integer()) fail(where_, ": \"", key, "\" must be an integer, got ", v.dump());
    int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) fail(where_, ": \"", key, "\" = ", x, " is out of range [", lo, ", ", hi, "]");
    return x;
  }

  const json& obj_;
  std::string where_;
  std::set<std::string> used_;
};

// Size limits, checked by infer_shapes before anything is allocated: every
// weight tensor, every per-sample activation and the parameters in all stay
// at or below 2^31 elements (8 GiB of float32). The products are computed
// with overflow checks, since each dimension alone may be up to 2^20.
constexpr int64_t kMaxElements = int64_t(1) << 31;

// n0 * n1 * ..., or kMaxElements + 1 when it exceeds kMaxElements.
int64_t bounded_product(std::initializer_list<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    if (__builtin_mul_overflow(n, d, &n) || n > kMaxElements) return kMaxElements + 1;
  return n;
}

void check_elements(int64_t n, const std::string& where, const char* what, const Shape& shape) {
  if (n > kMaxElements)
    fail(where, ": ", what, " ", shape_str(shape), " has more than 2^31 elements (taper's limit); "
         "check the channel, kernel and input sizes");
}

// Every layer type by its JSON name, in the order the error message lists them.
const std::vector<std::pair<const char*, LayerType>> kLayerTypes = {
    {"conv", LayerType::conv},           {"linear", LayerType::linear},   {"batchnorm", LayerType::batchnorm},
    {"relu", LayerType::relu},           {"qact", LayerType::qact},       {"clamp", LayerType::clamp},
    {"maxpool", LayerType::maxpool},     {"avgpool", LayerType::avgpool}, {"globalavgpool", LayerType::globalavgpool},
    {"flatten", LayerType::flatten},     {"dropout", LayerType::dropout}, {"add", LayerType::add}};

LayerType parse_layer_type(const std::string& name, const std::string& where) {
  for (const auto& [n, t] : kLayerTypes)
    if (name == n) return t;
  std::set<std::string> sorted;  // listed alphabetically
  for (const auto& [n, t] : kLayerTypes) sorted.insert(n);
  std::string all;
  for (const auto& n : sorted) all += (all.empty() ? "" : ", ") + n;
  fail(where, ": unknown type \"", name, "\" (expected one of ", all, ")");
}

LayerSpec parse_layer(const json& j, size_t index, const std::string& source,
                      const std::map<std::string, int>& earlier, int64_t classes) {
  std::string where = source + ": layers[" + std::to_string(index) + "]";
  if (!j.is_object()) fail(where, ": a layer must be a JSON object, got ", j.dump());
  if (!j.contains("name") || !j["name"].is_string())
    fail(where, ": missing key \"name\" (a string)");
  LayerSpec L;
  L.name = j["name"].get<std::string>();
  if (L.name.empty() || L.name == "input") fail(where, ": \"name\" must be non-empty and not \"input\"");
  where = source + ": layer '" + L.name + "'";
  Keys keys(j, where);
  keys.str("name");
  if (earlier.count(L.name)) fail(where, ": duplicate layer name");
  L.type = parse_layer_type(keys.str("type"), where);

  auto resolve = [&](const std::string& name) -> int {
    if (name == "input") return -1;
    auto it = earlier.find(name);
    if (it == earlier.end())
      fail(where, ": input \"", name, "\" is not the name of an earlier layer (or \"input\")");
    return it->second;
  };
  if (L.type == LayerType::add) {
    if (keys.has("input")) fail(where, ": an add layer takes \"inputs\": [a, b], not \"input\"");
    const json& in = keys.raw("inputs");
    if (!in.is_array() || in.size() != 2 || !in[0].is_string() || !in[1].is_string())
      fail(where, ": \"inputs\" must be a list of two layer names, got ", in.dump());
    L.inputs = {resolve(in[0].get<std::string>()), resolve(in[1].get<std::string>())};
  } else if (keys.has("input")) {
    L.inputs = {resolve(keys.str("input"))};
  } else {
    L.inputs = {static_cast<int>(index) - 1};  // the previous layer, or the network input
  }

  if (L.type == LayerType::conv) {
    L.out_channels = keys.integer("out_channels", 1, 1 << 20);
    keys.pair("kernel", L.kernel_h, L.kernel_w, 1);
    if (keys.has("stride")) keys.pair("stride", L.stride_h, L.stride_w, 1);
    if (keys.has("padding")) keys.pair("padding", L.pad_h, L.pad_w, 0);
    L.groups = keys.integer_or("groups", 1, 1, 1 << 20);
    L.bias = keys.boolean_or("bias", true);
    L.stage = static_cast<int>(keys.integer_or("stage", 0, 1, 64));
    if (L.out_channels % L.groups)
      fail(where, ": out_channels ", L.out_channels, " is not divisible by groups ", L.groups);
  } else if (L.type == LayerType::linear) {
    const json& of = keys.raw("out_features");
    if (of.is_string()) {
      if (of.get<std::string>() != "classes")
        fail(where, ": \"out_features\" must be an integer or \"classes\", got ", of.dump());
      L.out_is_classes = true;
      L.out_features = classes;
    } else {
      L.out_features = keys.integer("out_features", 1, 1 << 24);
    }
    L.bias = keys.boolean_or("bias", true);
    L.stage = static_cast<int>(keys.integer_or("stage", 0, 1, 64));
  } else if (L.type == LayerType::batchnorm) {
    if (keys.has("eps")) L.eps = static_cast<float>(keys.number("eps", 1e-12, 1.0));
    if (keys.has("momentum")) L.momentum = static_cast<float>(keys.number("momentum", 0.0, 1.0));
  } else if (L.type == LayerType::clamp) {
    L.lo = static_cast<float>(keys.number("lo", -1e30, 1e30));
    L.hi = static_cast<float>(keys.number("hi", -1e30, 1e30));
    if (!(L.lo < L.hi)) fail(where, ": \"lo\" must be below \"hi\"");
  } else if (L.type == LayerType::maxpool || L.type == LayerType::avgpool) {
    int64_t kh, kw;
    keys.pair("kernel", kh, kw, 1);
    if (kh != kw) fail(where, ": pooling kernels must be square");
    L.kernel_h = L.kernel_w = kh;
    L.stride_h = L.stride_w = keys.integer_or("stride", kh, 1, 1 << 20);
    L.pad_h = L.pad_w = keys.integer_or("padding", 0, 0, 1 << 20);
    if (L.pad_h * 2 > L.kernel_h)
      fail(where, ": padding ", L.pad_h, " must be at most half the kernel ", L.kernel_h);
  } else if (L.type == LayerType::dropout) {
    L.p = static_cast<float>(keys.number("p", 0.0, 1.0, /*hi_open=*/true));
  }
  keys.finish();
  return L;
}

}  // namespace

const char* layer_type_name(LayerType type) {
  for (const auto& [n, t] : kLayerTypes)
    if (t == type) return n;
  return "?";
}

ModelSpec parse_model_json(const std::string& text, const std::string& source) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    fail(source, ": not valid JSON: ", e.what());
  }
  if (!root.is_object()) fail(source, ": a model must be a JSON object");
  Keys top(root, source);
  ModelSpec spec;
  spec.source = source;
  spec.json_text = text;
  spec.name = top.str("name");
  if (top.has("description")) top.str("description");
  const json& input = top.raw("input");
  if (!input.is_array() || input.size() != 3)
    fail(source, ": \"input\" must be [channels, height, width], got ", input.dump());
  for (const json& d : input) {
    if (!d.is_number_integer() || d.get<int64_t>() < 1 || d.get<int64_t>() > (1 << 16))
      fail(source, ": \"input\" dimensions must be positive integers, got ", input.dump());
    spec.input.push_back(d.get<int64_t>());
  }
  spec.classes = top.integer("classes", 1, 1 << 24);
  const json& layers = top.raw("layers");
  if (!layers.is_array() || layers.empty()) fail(source, ": \"layers\" must be a non-empty list");
  top.finish();

  std::map<std::string, int> earlier;
  for (size_t i = 0; i < layers.size(); ++i) {
    spec.layers.push_back(parse_layer(layers[i], i, source, earlier, spec.classes));
    earlier[spec.layers.back().name] = static_cast<int>(i);
  }

  // Stages must be 1..S with none skipped.
  std::set<int> stages;
  for (const auto& L : spec.layers)
    if (L.stage) stages.insert(L.stage);
  spec.num_stages = stages.empty() ? 0 : *stages.rbegin();
  for (int s = 1; s <= spec.num_stages; ++s)
    if (!stages.count(s))
      fail(source, ": stages must be numbered 1..", spec.num_stages, " without gaps; no layer has stage ", s);

  infer_shapes(spec);
  return spec;
}

ModelSpec load_model_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, ": cannot open model file");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) fail(path, ": cannot read model file");
  return parse_model_json(ss.str(), path);
}

void infer_shapes(ModelSpec& spec) {
  int64_t params = 0;  // weights of all layers, bounded by kMaxElements
  for (auto& L : spec.layers) {
    const std::string where = spec.source + ": layer '" + L.name + "'";
    auto shape_of = [&](int i) -> const Shape& { return i < 0 ? spec.input : spec.layers[i].out_shape; };
    const Shape& in = shape_of(L.inputs[0]);
    L.in_shape = in;
    auto need_chw = [&]() {
      if (in.size() != 3) fail(where, ": ", layer_type_name(L.type), " needs a (C, H, W) input, got ", shape_str(in));
    };
    auto out_size = [&](int64_t n, int64_t k, int64_t s, int64_t p, const char* axis) {
      const int64_t o = window_out_size(n, k, s, p);
      if (o < 1)
        fail(where, ": kernel ", k, " does not fit the input ", axis, " ", n, " with padding ", p,
             " (input ", shape_str(in), ")");
      return o;
    };
    if (L.type == LayerType::conv) {
      need_chw();
      if (in[0] % L.groups)
        fail(where, ": input channels ", in[0], " are not divisible by groups ", L.groups);
      L.out_shape = {L.out_channels, out_size(in[1], L.kernel_h, L.stride_h, L.pad_h, "height"),
                     out_size(in[2], L.kernel_w, L.stride_w, L.pad_w, "width")};
    } else if (L.type == LayerType::linear) {
      if (in.size() != 1)
        fail(where, ": linear needs a flat input (add a flatten or globalavgpool layer before it), got ",
             shape_str(in));
      L.out_shape = {L.out_features};
    } else if (L.type == LayerType::batchnorm) {
      if (in.size() != 3 && in.size() != 1)
        fail(where, ": batchnorm needs a (C, H, W) or (C) input, got ", shape_str(in));
      L.out_shape = in;
    } else if (L.type == LayerType::maxpool || L.type == LayerType::avgpool) {
      need_chw();
      L.out_shape = {in[0], out_size(in[1], L.kernel_h, L.stride_h, L.pad_h, "height"),
                     out_size(in[2], L.kernel_w, L.stride_w, L.pad_w, "width")};
    } else if (L.type == LayerType::globalavgpool) {
      need_chw();
      L.out_shape = {in[0]};
    } else if (L.type == LayerType::flatten) {
      L.out_shape = {shape_numel(in)};
    } else if (L.type == LayerType::add) {
      const Shape& b = shape_of(L.inputs[1]);
      if (b != in) fail(where, ": cannot add ", shape_str(in), " and ", shape_str(b), " (shapes differ)");
      L.out_shape = in;
    } else {  // relu qact clamp dropout: elementwise
      L.out_shape = in;
    }
    // Limits before allocation (kMaxElements).
    int64_t out_numel = 1;
    for (int64_t d : L.out_shape) out_numel = bounded_product({out_numel, d});
    check_elements(out_numel, where, "output", L.out_shape);
    if (L.has_weights()) {
      const Shape w = L.type == LayerType::conv ? Shape{L.out_channels, in[0] / L.groups, L.kernel_h, L.kernel_w}
                                       : Shape{L.out_features, in[0]};
      int64_t w_numel = 1;
      for (int64_t d : w) w_numel = bounded_product({w_numel, d});
      check_elements(w_numel, where, "weight", w);
      params += w_numel;  // both terms <= 2^31: no overflow
      if (params > kMaxElements)
        fail(where, ": the model's weights exceed 2^31 elements in all (taper's limit)");
    }
  }
  const Shape& last = spec.layers.back().out_shape;
  if (last != Shape{spec.classes})
    fail(spec.source, ": the last layer '", spec.layers.back().name, "' outputs ", shape_str(last),
         " but the model has ", spec.classes, " classes; it must output (", spec.classes, ")");
}

ModelSpec apply_width(const ModelSpec& spec, double width) {
  check(std::isfinite(width) && width > 0.0 && width <= 64.0, "width multiplier ", width,
        " is out of range (0, 64]");
  ModelSpec out = spec;
  const int n = static_cast<int>(out.layers.size());

  // The channel sources of a layer's output: the conv/linear layers (or the
  // network input, -1) whose channel count it carries, found by walking back
  // through layers that keep the channel count (batch norm, activations,
  // pooling, flatten, dropout) and through both inputs of an add.
  std::vector<std::vector<int>> sources(n);
  auto sources_of = [&](int i) -> std::vector<int> { return i < 0 ? std::vector<int>{-1} : sources[i]; };
  for (int i = 0; i < n; ++i) {
    const LayerSpec& L = out.layers[i];
    if (L.has_weights()) {
      sources[i] = {i};
    } else {
      for (int in : L.inputs)
        for (int s : sources_of(in)) sources[i].push_back(s);
    }
  }

  // Producers whose outputs are added must keep equal channel counts, so
  // they form one group (union-find, element n stands for the network input).
  std::vector<int> parent(n + 1);
  for (int i = 0; i <= n; ++i) parent[i] = i;
  std::function<int(int)> find = [&](int i) { return parent[i] == i ? i : parent[i] = find(parent[i]); };
  auto node = [&](int s) { return s < 0 ? n : s; };
  for (int i = 0; i < n; ++i)
    if (out.layers[i].type == LayerType::add)
      for (int s : sources[i]) parent[find(node(s))] = find(node(sources[i][0]));

  // A group's channel count must be divisible by the groups of every conv
  // among its members and of every grouped conv that reads it. A group that
  // holds the network input or a "classes" output never changes.
  std::vector<int64_t> divisor(n + 1, 1);
  std::vector<bool> pinned(n + 1, false);
  pinned[find(n)] = true;
  for (int i = 0; i < n; ++i) {
    const LayerSpec& L = out.layers[i];
    if (L.type == LayerType::conv) divisor[find(i)] = std::lcm(divisor[find(i)], L.groups);
    if (L.out_is_classes) pinned[find(i)] = true;
    if (L.type == LayerType::conv && L.groups > 1)
      for (int s : sources_of(L.inputs[0])) divisor[find(node(s))] = std::lcm(divisor[find(node(s))], L.groups);
  }
  for (int i = 0; i < n; ++i) {
    LayerSpec& L = out.layers[i];
    if (!L.has_weights() || pinned[find(i)]) continue;
    int64_t& c = L.type == LayerType::conv ? L.out_channels : L.out_features;
    int64_t d = divisor[find(i)];
    c = std::max<int64_t>(d, std::llround(static_cast<double>(c) * width / d) * d);
  }
  infer_shapes(out);
  return out;
}

}  // namespace taper
