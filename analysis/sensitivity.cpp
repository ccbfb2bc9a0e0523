#include "analysis/sensitivity.h"

#include <cctype>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/error.h"
#include "engine/safetensors.h"
#include "quant/binarize.h"
#include "quant/policy.h"
#include "quant/weight_quant.h"
#include "models/size.h"

namespace taper {

ModelSpec with_batchnorm_momentum_one(ModelSpec spec) {
  for (LayerSpec& L : spec.layers)
    if (L.type == LayerType::batchnorm) L.momentum = 1.0f;
  return spec;
}

void reestimate_batchnorm(Model& model, const std::vector<Tensor>& batches) {
  check(!batches.empty(), "batch norm re-estimation needs at least one batch");
  for (const LayerSpec& L : model.spec().layers)
    check(L.type != LayerType::batchnorm || L.momentum == 1.0f, "batch norm re-estimation: layer '", L.name,
          "' has momentum ", L.momentum, "; build the model from with_batchnorm_momentum_one(spec)");
  // With momentum 1 each training-mode forward leaves the batch's own mean
  // and unbiased variance in running_mean / running_var; average them.
  std::map<std::string, std::vector<double>> sum;  // "<bn>.running_mean" -> sum over batches (C)
  SafeTensors one;
  Tape tape;
  NoGrad no_grad(tape);
  model.set_training(true);
  for (const Tensor& batch : batches) {
    Var x(batch);
    model.forward(x, tape);
    one = SafeTensors();
    model.save(one);
    for (const LayerSpec& L : model.spec().layers) {
      if (L.type != LayerType::batchnorm) continue;
      for (const char* stat : {".running_mean", ".running_var"}) {
        const Tensor t = one.get(L.name + stat);
        std::vector<double>& acc = sum[L.name + stat];
        acc.resize(t.numel(), 0.0);
        for (int64_t i = 0; i < t.numel(); ++i) acc[i] += t[i];
      }
    }
  }
  // Every tensor as it is now, with the statistics replaced by the averages.
  for (auto& [name, acc] : sum) {
    Tensor avg = one.get(name);
    for (int64_t i = 0; i < avg.numel(); ++i) avg[i] = static_cast<float>(acc[i] / batches.size());
    one.put(name, avg);
  }
  model.load(one);
  model.set_training(false);
}

void quantize_keep_scale(const float* w, float* out, int64_t rows, int64_t cols, int bits) {
  check(bits >= 1 && bits <= 8, "quantize_keep_scale: bits must be 1..8, got ", bits);
  if (bits == 1) {
    std::vector<float> scale(rows);
    binarize_ref(w, out, scale.data(), rows, cols, /*per_tensor=*/false);
  } else {
    weight_quantize_ref(w, out, rows, cols, bits);
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float* wi = w + i * cols;
    float* qi = out + i * cols;
    double wq = 0.0, qq = 0.0;
    for (int64_t j = 0; j < cols; ++j) wq += double(wi[j]) * qi[j], qq += double(qi[j]) * qi[j];
    const double alpha = qq > 0.0 ? wq / qq : 0.0;
    for (int64_t j = 0; j < cols; ++j) qi[j] = static_cast<float>(alpha * qi[j]);
  }
}

SafeTensors keep_scale_weights(const SafeTensors& checkpoint, const ModelSpec& spec, int stage, int bits) {
  SafeTensors out = checkpoint;
  int layers = 0;
  for (const LayerSpec& L : spec.layers) {
    if (!L.quantizable() || L.stage != stage) continue;
    Tensor w = checkpoint.get(L.name + ".weight");
    check(w.ndim() >= 2, L.name, ".weight: expected at least 2 dimensions");
    Tensor q = w.clone();
    quantize_keep_scale(w.data(), q.data(), w.shape()[0], w.numel() / w.shape()[0], bits);
    out.put(L.name + ".weight", q);
    ++layers;
  }
  check(layers > 0, spec.name, " has no quantizable layer in stage ", stage);
  return out;
}

// ---- sensitivity.json ----

static const nlohmann::json& key(const nlohmann::json& j, const std::string& k, const std::string& where) {
  check(j.is_object() && j.contains(k), where, ": missing key \"", k, "\"");
  return j.at(k);
}

static double number(const nlohmann::json& j, const std::string& k, const std::string& where) {
  const nlohmann::json& v = key(j, k, where);
  check(v.is_number(), where, ": \"", k, "\" must be a number, got ", v.dump());
  return v.get<double>();
}

SensitivityTable read_sensitivity(const std::string& path) {
  std::ifstream f(path);
  check(f.good(), path, ": cannot open the sensitivity file (write one with taper analyze CHECKPOINT --sensitivity)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::parse_error& e) {
    fail(path, ": not valid JSON: ", e.what());
  }
  check(j.is_object() && j.value("format", "") == kSensitivityFormat, path, ": not a sensitivity file (\"format\" must be \"",
        kSensitivityFormat, "\")");
  SensitivityTable t;
  t.source = path;
  const nlohmann::json& model = key(j, "model", path);
  check(model.is_string(), path, ": \"model\" must be a string");
  t.model = model.get<std::string>();
  t.baseline_loss = number(key(j, "baseline", path), "loss", path + " baseline");
  const nlohmann::json& widths = key(j, "widths", path);
  check(widths.is_array() && !widths.empty(), path, ": \"widths\" must be a list of bit widths");
  for (const auto& w : widths) {
    check(w.is_number_integer() && w.get<int>() >= 1 && w.get<int>() <= 8, path, ": bad width ", w.dump());
    t.widths.push_back(w.get<int>());
  }
  const nlohmann::json& stages = key(j, "stages", path);
  check(stages.is_array() && !stages.empty(), path, ": \"stages\" must be a non-empty list");
  for (size_t s = 0; s < stages.size(); ++s) {
    const std::string where = path + " stage " + std::to_string(s + 1);
    check(number(stages[s], "stage", where) == static_cast<double>(s + 1), where, ": stages must be listed 1, 2, ... in order");
    const nlohmann::json& results = key(stages[s], "results", where);
    check(results.is_array() && results.size() == t.widths.size(), where, ": needs one result per width");
    std::vector<double> row;
    for (size_t o = 0; o < results.size(); ++o) {
      check(number(results[o], "bits", where) == t.widths[o], where, ": results must follow \"widths\"");
      row.push_back(number(results[o], "loss", where));
    }
    t.loss.push_back(row);
  }
  t.num_stages = static_cast<int>(t.loss.size());
  return t;
}

// ---- --wbits auto:TARGET@FILE ----

bool is_auto_wbits(const std::string& wbits) { return wbits.rfind("auto:", 0) == 0; }

AutoPolicy resolve_auto_wbits(const std::string& wbits, const ModelSpec& spec) {
  const std::string grammar = "expected auto:BYTES@SENSITIVITY.json or auto:SPEC@SENSITIVITY.json";
  check(is_auto_wbits(wbits), "--wbits '", wbits, "': ", grammar);
  const std::string rest = wbits.substr(5);
  const size_t at = rest.find('@');
  check(at != std::string::npos && at > 0 && at + 1 < rest.size(), "--wbits '", wbits, "': ", grammar,
        " (the sensitivity file comes from taper analyze CHECKPOINT --sensitivity)");
  AutoPolicy a;
  a.target = rest.substr(0, at);
  a.file = rest.substr(at + 1);
  bool digits = a.target.size() <= 15;
  for (char c : a.target) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  if (digits)
    a.budget = std::stoll(a.target);
  else
    a.budget = size_report(spec, parse_wbits(a.target, spec.num_stages)).weight_bytes;

  const SensitivityTable t = read_sensitivity(a.file);
  check(t.model == spec.name, a.file, ": measured on model ", t.model, ", not ", spec.name);
  check(t.num_stages == spec.num_stages, a.file, ": ", t.num_stages, " stages, but model ", spec.name, " has ",
        spec.num_stages);
  BudgetProblem p = budget_problem(spec, a.budget, t.widths);
  for (int s = 0; s < t.num_stages; ++s)
    for (size_t o = 0; o < t.widths.size(); ++o) p.cost[s][o] = t.loss[s][o] - t.baseline_loss;
  a.allocation = allocate_bits(p);
  check(a.allocation.feasible, "--wbits '", wbits, "': no choice of ", bits_to_string(t.widths),
        " bits per stage fits in ", a.budget, " weight bytes (all stages at ", t.widths.front(), " bits take ",
        size_report(spec, std::vector<int>(spec.num_stages, t.widths.front())).weight_bytes, ")");
  return a;
}

std::string describe(const AutoPolicy& a) {
  std::ostringstream os;
  os << "auto:" << a.target << " -> wbits " << bits_to_string(a.allocation.bits) << " (" << a.allocation.bytes
     << " weight bytes <= budget " << a.budget << "; summed validation loss increase "
     << a.allocation.cost << " from " << a.file << ")";
  return os.str();
}

}  // namespace taper
