#include "data/dataset.h"

#include <cstring>

#include "engine/error.h"

namespace taper {

void check_dataset(const Dataset& d, const std::string& what) {
  check(d.n >= 0 && d.channels > 0 && d.height > 0 && d.width > 0 && d.classes > 0, what,
        ": bad data set shape n=", d.n, " C=", d.channels, " H=", d.height, " W=", d.width,
        " classes=", d.classes);
  check(static_cast<int64_t>(d.pixels.size()) == d.n * d.sample_size(), what, ": ", d.pixels.size(),
        " pixel bytes, expected n*C*H*W = ", d.n * d.sample_size());
  check(static_cast<int64_t>(d.labels.size()) == d.n, what, ": ", d.labels.size(), " labels for ",
        d.n, " images");
  for (int64_t i = 0; i < d.n; ++i)
    check(d.labels[i] >= 0 && d.labels[i] < d.classes, what, ": label ", d.labels[i], " of sample ",
          i, " is outside [0, ", d.classes, ")");
}

Dataset subset(const Dataset& d, const std::vector<int64_t>& indices) {
  Dataset out;
  out.name = d.name;
  out.channels = d.channels;
  out.height = d.height;
  out.width = d.width;
  out.classes = d.classes;
  out.n = static_cast<int64_t>(indices.size());
  const int64_t S = d.sample_size();
  out.pixels.resize(out.n * S);
  out.labels.resize(out.n);
  for (int64_t k = 0; k < out.n; ++k) {
    int64_t i = indices[k];
    check(i >= 0 && i < d.n, d.name, ": subset index ", i, " outside [0, ", d.n, ")");
    std::memcpy(out.pixels.data() + k * S, d.image(i), S);
    out.labels[k] = d.labels[i];
  }
  return out;
}

}  // namespace taper
