// classify — the code a user copies into their application: load a packed
// low-bit model (taper export), read an image with stb_image, print the top
// classes. Build against an installed taper with find_package(taper) and
// target_link_libraries(app PRIVATE taper::taper).
//   usage: classify MODEL.taper IMAGE [TOP=3]
#include <stb_image.h>  // the implementation is in taper's library (data/stb_impl.cpp)

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <vector>

#include "engine/error.h"
#include "engine/safetensors.h"
#include "models/packed_model.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: classify MODEL.taper IMAGE [TOP=3]\n");
    return 2;
  }
  try {
    taper::PackedModel model(taper::load_safetensors(argv[1]));
    const taper::Shape& in = model.spec().input;  // (C, H, W)
    const int C = int(in[0]), H = int(in[1]), W = int(in[2]);
    int w = 0, h = 0, c = 0;
    unsigned char* px = stbi_load(argv[2], &w, &h, &c, C);  // C channels
    taper::check(px != nullptr, argv[2], ": cannot read the image (", stbi_failure_reason(), ")");
    taper::check(w == W && h == H, argv[2], " is ", w, "x", h, " but the model takes ", W, "x", H);
    taper::Tensor x({1, C, H, W});  // pixels / 255, normalized as in training
    for (int k = 0; k < C; ++k)
      for (int i = 0; i < H * W; ++i) {
        double v = px[i * C + k] / 255.0;
        if (!model.normalize_mean().empty()) v = (v - model.normalize_mean()[k]) / model.normalize_std()[k];
        x[int64_t(k) * H * W + i] = float(v);
      }
    stbi_image_free(px);
    const taper::Tensor& logits = model.forward(x);  // (1, classes)
    const int K = int(logits.numel());
    double z = 0.0, top = *std::max_element(logits.data(), logits.data() + K);
    for (int k = 0; k < K; ++k) z += std::exp(logits[k] - top);
    std::vector<int> order(K);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
    const int n = std::min(K, argc > 3 ? std::atoi(argv[3]) : 3);
    for (int i = 0; i < n; ++i)
      std::printf("class %d  probability %.4f\n", order[i], std::exp(logits[order[i]] - top) / z);
    return 0;
  } catch (const taper::Error& e) {
    std::fprintf(stderr, "classify: error: %s\n", e.what());
    return 2;
  }
}
