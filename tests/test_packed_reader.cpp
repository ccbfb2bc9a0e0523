// Every weight of a packed file, unpacked to the training grid, equals the
// quantizer's output on the source weights: checked here in C++ with the
// scalar references (NumPy-free), and by the independent NumPy reader
// tools/taper_packed.py --check where python3 with NumPy exists.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "models/export.h"
#include "models/model.h"
#include "models/size.h"
#include "quant/binarize.h"
#include "quant/pack.h"
#include "quant/policy.h"
#include "quant/weight_quant.h"
#include "support/temp_dir.h"

using namespace taper;
using namespace taper::testing;

TEST_CASE("packed codes unpack to the quantizer's grid values; the NumPy reader agrees") {
  const ModelSpec spec = load_model_file(std::string(TAPER_SOURCE_DIR) + "/models/lenet5.json");
  const std::string wbits = "8-2-1";  // conv2, fc1, fc2: every kind of code
  Model model(spec, BuildOptions{parse_wbits(wbits, spec.num_stages), 2});
  model.init(11);
  SafeTensors ckpt;
  model.save(ckpt);
  const SafeTensors packed = export_packed(model, wbits, 1.0, {}, {});
  int quantized = 0;
  for (const LayerSpec& L : spec.layers) {
    if (!L.quantizable()) continue;
    const int k = layer_wbits(L, model.options().stage_bits);
    const Tensor w = ckpt.get(L.name + ".weight");
    const int64_t rows = w.dim(0), cols = w.numel() / rows;
    std::vector<float> ref(w.numel()), scale(rows, 1.0f);
    if (k == 1)
      binarize_ref(w.data(), ref.data(), scale.data(), rows, cols, false);
    else
      weight_quantize_ref(w.data(), ref.data(), rows, cols, k);
    const StEntry& e = packed.entries.at(L.name + ".weight");
    REQUIRE(int64_t(e.bytes.size()) == packed_size(w.numel(), k));
    std::vector<uint8_t> q(w.numel());
    unpack_codes_ref(reinterpret_cast<const uint8_t*>(e.bytes.data()), w.numel(), k, q.data());
    std::vector<float> s(rows, 1.0f);
    if (k == 1) {
      const Tensor st = packed.get(L.name + ".scale");
      for (int64_t r = 0; r < rows; ++r) s[r] = st[r];
    }
    int64_t differ = 0;
    for (int64_t i = 0; i < w.numel(); ++i) differ += code_to_grid(q[i], k, s[i / cols]) != ref[i];
    INFO(L.name << " at " << k << " bits");
    CHECK(differ == 0);
    ++quantized;
  }
  CHECK(quantized == 3);

  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    WARN("python3 with NumPy not found: tools/taper_packed.py not run (the C++ check above ran)");
    return;
  }
  TempDir dir;
  save_safetensors(dir / "ckpt.safetensors", ckpt);
  save_safetensors(dir / "m.taper", packed);
  const std::string tool = "/usr/bin/python3 " + std::string(TAPER_SOURCE_DIR) + "/tools/taper_packed.py ";
  CHECK(std::system((tool + dir / "m.taper --check " + dir / "ckpt.safetensors >/dev/null").c_str()) == 0);
  // The check can fail: one flipped code bit in fc1 is a mismatch.
  SafeTensors bad = packed;
  bad.entries["fc1.weight"].bytes[5] ^= 1;
  save_safetensors(dir / "bad.taper", bad);
  CHECK(std::system((tool + dir / "bad.taper --check " + dir / "ckpt.safetensors >/dev/null").c_str()) != 0);
}
