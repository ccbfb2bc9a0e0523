#include "analysis/features.h"

#include "engine/error.h"

namespace taper {

static bool is_activation(LayerType t) { return t == LayerType::relu || t == LayerType::qact || t == LayerType::clamp; }

std::vector<FeatureLayer> feature_layers(const ModelSpec& spec) {
  const int n = static_cast<int>(spec.layers.size());
  std::vector<std::vector<int>> readers(n);
  for (int j = 0; j < n; ++j)
    for (int in : spec.layers[j].inputs)
      if (in >= 0) readers[in].push_back(j);
  std::vector<FeatureLayer> out;
  for (int i = 0; i < n; ++i) {
    const LayerSpec& L = spec.layers[i];
    if (!L.quantizable()) continue;
    int cur = i;
    while (!is_activation(spec.layers[cur].type) && readers[cur].size() == 1) {
      const LayerType next = spec.layers[readers[cur][0]].type;
      if (next != LayerType::batchnorm && next != LayerType::add && !is_activation(next)) break;
      cur = readers[cur][0];
    }
    bool seen = false;
    for (const FeatureLayer& f : out) seen = seen || f.output == cur;
    if (seen) continue;
    FeatureLayer f;
    f.name = L.name;
    f.stage = L.stage;
    f.layer = i;
    f.output = cur;
    f.output_name = spec.layers[cur].name;
    const Shape& s = spec.layers[cur].out_shape;
    f.pooled = s.size() == 3;
    f.dim = s[0];
    out.push_back(f);
  }
  return out;
}

void append_feature_rows(const Tensor& t, bool flatten, std::vector<double>& rows) {
  check(t.ndim() == 2 || t.ndim() == 4, "features of shape ", shape_str(t.shape()), ": expected (N, F) or (N, C, H, W)");
  const int64_t N = t.dim(0);
  const int64_t per = t.numel() / N;
  if (t.ndim() == 2 || flatten) {
    for (int64_t k = 0; k < t.numel(); ++k) rows.push_back(t[k]);
    return;
  }
  const int64_t C = t.dim(1), HW = t.dim(2) * t.dim(3);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t c = 0; c < C; ++c) {
      double s = 0.0;
      const float* p = t.data() + i * per + c * HW;
      for (int64_t k = 0; k < HW; ++k) s += p[k];
      rows.push_back(s / HW);  // global average pooling
    }
}

}  // namespace taper
