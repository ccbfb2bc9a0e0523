// Packed model files and the integer engine (models/export.h,
// models/packed_model.h): the file's tensor bytes are summary's total_bytes
// exactly and the file is within 64 KiB of it, for every model the engine
// runs at w2a2, w1a2 and the progressive policies; the engine's logits
// agree with the float engine's; its resident weights are the packed
// codes; the loader refuses files that do not match their plan.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/rng.h"
#include "models/export.h"
#include "models/model.h"
#include "models/packed_model.h"
#include "models/packed_plan.h"
#include "models/size.h"
#include "quant/int_conv.h"
#include "quant/pack.h"
#include "quant/policy.h"
#include "support/temp_dir.h"

using namespace taper;
using namespace taper::testing;

namespace {

struct Case {
  const char* model;
  const char* wbits;
  int abits;
};

// Every model the integer engine runs, at w2a2, w1a2 and its progressive policy.
std::vector<Case> cases() {
  std::vector<Case> c;
  for (const char* m : {"lenet5", "vgg7-fmnist", "resnet20", "vgg7", "resnet20-preact"}) {
    struct stat s;
    if (stat((std::string(TAPER_SOURCE_DIR) + "/models/" + m + ".json").c_str(), &s) != 0) continue;
    c.push_back({m, "2", 2});
    c.push_back({m, "1", 2});
    const std::string name = m;
    c.push_back({m, name.rfind("resnet", 0) == 0 ? "4-2-1" : "progressive:8", 2});
  }
  return c;
}

ModelSpec spec_of(const char* name) {
  return load_model_file(std::string(TAPER_SOURCE_DIR) + "/models/" + name + ".json");
}

// A model at seed-0 weights, with batch-norm statistics moved away from
// (0, 1) so that thresholds are not all alike.
std::unique_ptr<Model> random_model(const ModelSpec& spec, const std::vector<int>& bits, int abits) {
  auto m = std::make_unique<Model>(spec, BuildOptions{bits, abits});
  m->init(0);
  SafeTensors w;
  m->save(w);
  Rng rng(3);
  for (auto& [name, e] : w.entries) {
    const bool mean = name.size() > 13 && name.compare(name.size() - 13, 13, ".running_mean") == 0;
    const bool beta = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0 && name.find("bn") != std::string::npos;
    if (!mean && !beta) continue;
    Tensor t = w.get(name);
    for (int64_t i = 0; i < t.numel(); ++i) t[i] = 0.3f * rng.normal();
    w.put(name, t);
  }
  m->load(w);
  m->set_training(false);
  return m;
}

// Case c's model packed at seed-0 weights, as taper export would write it.
SafeTensors export_seed0(const ModelSpec& spec, const std::vector<int>& bits, const Case& c) {
  Model model(spec, BuildOptions{bits, c.abits});
  model.init(0);
  return export_packed(model, c.wbits, 1.0, {}, {});
}

int64_t file_size(const std::string& path) {
  struct stat s;
  REQUIRE(stat(path.c_str(), &s) == 0);
  return s.st_size;
}

}  // namespace

TEST_CASE("the packed file holds total_bytes of tensors and at most 64 KiB of header") {
  TempDir dir;
  for (const Case& c : cases()) {
    INFO(c.model << " w" << c.wbits << "a" << c.abits);
    const ModelSpec spec = spec_of(c.model);
    const std::vector<int> bits = parse_wbits(c.wbits, spec.num_stages);
    const SafeTensors packed = export_seed0(spec, bits, c);
    int64_t tensor_bytes = 0;
    for (const auto& kv : packed.entries) tensor_bytes += int64_t(kv.second.bytes.size());
    const SizeReport r = size_report(spec, bits, c.abits);
    CHECK(tensor_bytes == r.total_bytes);
    const std::string path = dir / (std::string(c.model) + ".taper");
    save_safetensors(path, packed);
    CHECK(file_size(path) <= r.total_bytes + 64 * 1024);
    CHECK(file_size(path) >= r.total_bytes);
    PackedModel loaded(load_safetensors(path));  // the loader accepts what export wrote
    CHECK(loaded.spec().name == spec.name);
  }
}

TEST_CASE("no float copy of a quantized weight goes into the packed file") {
  const ModelSpec spec = spec_of("vgg7-fmnist");
  const std::vector<int> bits = parse_wbits("progressive:8", spec.num_stages);
  Model model(spec, BuildOptions{bits, 2});
  model.init(0);
  const SafeTensors packed = export_packed(model, "progressive:8", 1.0, {}, {});
  for (const auto& L : spec.layers) {
    if (!L.has_weights()) continue;
    const StEntry& w = packed.entries.at(L.name + ".weight");
    const int b = layer_wbits(L, bits);
    CHECK(w.dtype == (b == 32 ? "F32" : "U8"));
    if (b < 32) CHECK(int64_t(w.bytes.size()) == (weight_params(L) * b + 7) / 8);
  }
  // Folded layers keep thresholds, not batch-norm floats.
  CHECK(packed.entries.at("bn2.thresholds").dtype == "I32");
  CHECK(packed.entries.at("bn2.thresholds").shape == Shape{64, 3});
  CHECK(packed.entries.count("bn2.mean") == 0);
  // conv1's input is the float image: its batch norm stays float.
  CHECK(packed.entries.count("bn1.mean") == 1);
}

// The bytes an `int` layer's kernel holds, from the layouts of
// docs/packed-format.md ("Resident weight memory"), and that layer's
// packed bytes (the file's <L>.weight): dot keeps packed_size(OC Kp, k),
// Kp = K with a conv's channels per group (a linear layer's inputs)
// rounded up to 4; bitplane k bit planes per row, rows padded to the
// column word WB (bitplane_word_bits), in 64-bit storage.
struct CodeBytes {
  int64_t resident = 0, packed = 0;
};

CodeBytes int_layer_code_bytes(const LayerSpec& L, int k, int a) {
  const bool conv = L.type == LayerType::conv;
  const int64_t OC = L.out_shape[0], groups = conv ? L.groups : 1;
  const int64_t ICg = L.in_shape[0] / groups, taps = conv ? L.kernel_h * L.kernel_w : 1;
  const int64_t K = ICg * taps;
  IntKernel kernel = preferred_int_kernel(k, a, K);
  if (conv) {
    IntConvGeom g;
    g.IC = L.in_shape[0], g.OC = OC, g.KH = L.kernel_h, g.KW = L.kernel_w, g.SH = L.stride_h, g.SW = L.stride_w;
    g.PH = L.pad_h, g.PW = L.pad_w, g.groups = groups;
    kernel = preferred_conv_kernel(g, L.in_shape[2], k, a);
  }
  CodeBytes b;
  b.packed = packed_size(OC * K, k);
  const int64_t OCg = OC / groups;
  if (kernel == IntKernel::dot) {
    const int64_t Kp = (ICg + 3) / 4 * 4 * taps;
    b.resident = groups * packed_size(OCg * Kp, k);
  } else {
    const int64_t WB = bitplane_word_bits(k, a, K);  // the models' channels fill bitplane's channel blocks
    b.resident = groups * 8 * ((OCg * k * ((K + WB - 1) / WB) * WB + 63) / 64);
  }
  return b;
}

TEST_CASE("the integer engine keeps the quantized layers' weights at their packed size") {
  for (const Case& c : cases()) {
    INFO(c.model << " w" << c.wbits << "a" << c.abits);
    const ModelSpec spec = spec_of(c.model);
    const std::vector<int> bits = parse_wbits(c.wbits, spec.num_stages);
    const PackedModel pm(export_seed0(spec, bits, c));
    const PackedPlan plan = plan_packed(spec, bits, c.abits);
    int64_t resident = 0, packed = 0;
    for (size_t i = 0; i < spec.layers.size(); ++i) {
      if (plan.layers[i].role != PackedRole::int_layer) continue;
      const LayerSpec& L = spec.layers[i];
      const int k = plan.layers[i].wbits;
      const CodeBytes b = int_layer_code_bytes(L, k, c.abits);
      // The file's tensor is what the layer packs.
      CHECK(b.packed == (weight_params(L) * k + 7) / 8);
      resident += b.resident, packed += b.packed;
    }
    CHECK(pm.resident_code_bytes() == resident);
    CHECK(pm.resident_code_bytes() >= packed);
    // Padding only where bitplane rows do not fill a column word (resnet20's
    // K = 144 and K = 16 layers on bit planes): at most a few KiB.
    CHECK(pm.resident_code_bytes() - packed <= 8 * 1024);
    // vgg7-fmnist and vgg7: every K a multiple of 64, no padding at all.
    if (std::string(c.model).rfind("vgg7", 0) == 0) CHECK(pm.resident_code_bytes() == packed);
  }
}

TEST_CASE("the integer engine computes the float engine's logits") {
  // Differences come only from float(A) * acc_scale against the float
  // conv's rounded sum of products (a few ulps of each pre-activation),
  // which flips a code only where a value is within those ulps of a
  // rounding boundary: rare, and each flip moves a logit by at most one
  // code step of one input times its weights. Over 8 random images per
  // model, most logits must agree to 1e-4 and the classes must agree.
  for (const Case& c : cases()) {
    if (std::string(c.model) == "vgg7") continue;  // CIFAR vgg7 is slow in the float engine; sizes are checked above
    INFO(c.model << " w" << c.wbits << "a" << c.abits);
    const ModelSpec spec = spec_of(c.model);
    const std::vector<int> bits = parse_wbits(c.wbits, spec.num_stages);
    std::unique_ptr<Model> model = random_model(spec, bits, c.abits);
    PackedModel packed(export_packed(*model, c.wbits, 1.0, {}, {}));
    const int64_t N = 8;
    Shape xs{N};
    xs.append(spec.input.begin(), spec.input.end());
    Var x{Tensor(xs)};
    Rng rng(5);
    for (int64_t i = 0; i < x.data.numel(); ++i) x.data[i] = rng.normal();
    Tape tape;
    tape.set_recording(false);
    const Tensor expected = model->forward(x, tape).data;
    const Tensor& got = packed.forward(x.data);
    REQUIRE(got.shape() == expected.shape());
    int close = 0, same_class = 0;
    for (int64_t n = 0; n < N; ++n) {
      int64_t ae = 0, ag = 0;
      for (int64_t k = 0; k < spec.classes; ++k) {
        const int64_t i = n * spec.classes + k;
        close += std::fabs(got[i] - expected[i]) <= 1e-4f * (1.0f + std::fabs(expected[i]));
        if (expected[i] > expected[n * spec.classes + ae]) ae = k;
        if (got[i] > got[n * spec.classes + ag]) ag = k;
      }
      same_class += ae == ag;
    }
    CHECK(close >= N * spec.classes * 9 / 10);
    CHECK(same_class >= N - 1);
  }
}

TEST_CASE("a batch in chunks gives the bits of the whole batch through every layer at once") {
  // PackedModel::forward runs a batch chunk by chunk over the threads, the
  // layers from the first linear one on over the whole batch; without
  // chunks, every layer runs over the whole batch with its own parallel
  // loops. The ops before the linear layers are per image, so both must
  // give the same bits, for any chunk size and thread count.
  const int threads = num_threads();
  for (const Case& c : cases()) {
    INFO(c.model << " w" << c.wbits << "a" << c.abits);
    const ModelSpec spec = spec_of(c.model);
    const std::vector<int> bits = parse_wbits(c.wbits, spec.num_stages);
    std::unique_ptr<Model> model = random_model(spec, bits, c.abits);
    PackedModel packed(export_packed(*model, c.wbits, 1.0, {}, {}));
    CHECK(packed.chunked_layers() > 0);
    const int64_t N = 21;  // uneven chunks: 6 5 5 5 at 8 images and 2 threads, 8 8 5 on one
    Shape xs{N};
    xs.append(spec.input.begin(), spec.input.end());
    Tensor x(xs);
    Rng rng(7);
    for (int64_t i = 0; i < x.numel(); ++i) x[i] = rng.normal();
    set_num_threads(2);
    packed.set_chunk_images(0);
    const Tensor whole = packed.forward(x).clone();  // a copy: a Tensor copy shares the buffer
    for (int t : {2, 1})
      for (int64_t chunk : {8, 1, 3}) {
        INFO(t << " threads, chunks of " << chunk);
        set_num_threads(t);
        packed.set_chunk_images(chunk);
        const Tensor& got = packed.forward(x);
        REQUIRE(got.shape() == whole.shape());
        CHECK(std::memcmp(got.data(), whole.data(), sizeof(float) * whole.numel()) == 0);
      }
  }
  set_num_threads(threads);
}

TEST_CASE("the packed loader refuses files that do not match their plan") {
  const ModelSpec spec = spec_of("lenet5");
  const std::vector<int> bits = parse_wbits("2", spec.num_stages);
  Model model(spec, BuildOptions{bits, 2});
  model.init(0);
  const SafeTensors good = export_packed(model, "2", 1.0, {}, {});
  auto refused = [&](SafeTensors st, const std::string& needle) {
    st.source = "bad.taper";
    try {
      PackedModel m(st);
      FAIL("accepted a bad file (expected: " << needle << ")");
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
      CHECK(std::string(e.what()).find("bad.taper") != std::string::npos);
    }
  };
  SafeTensors st = good;
  st.metadata["format_version"] = "2";
  refused(st, "packed format version \"2\"");
  st = good;
  st.entries.erase("bn3.thresholds");
  refused(st, "tensor 'bn3.thresholds' is missing");
  st = good;
  st.entries["conv2.weight"].shape = {10};
  st.entries["conv2.weight"].bytes.resize(10);
  refused(st, "tensor 'conv2.weight' is U8 (10)");
  st = good;
  st.entries["extra"] = st.entries["conv2.weight"];
  refused(st, "tensor 'extra' does not belong");
  st = good;
  st.entries["bn3.direction"].bytes[0] = 5;
  refused(st, "tensor 'bn3.direction' channel 0");
  st = good;
  {
    float nan = std::nanf("");
    std::memcpy(st.entries["fc_out.weight"].bytes.data(), &nan, 4);
  }
  refused(st, "tensor 'fc_out.weight' element 0");
  st = good;
  st.metadata["wbits"] = "1";
  refused(st, "does not match");
  st = good;
  st.metadata["abits"] = "32";
  refused(st, "activations are 32-bit");
  st = good;
  st.metadata.erase("layers");
  refused(st, "has no \"layers\"");
  st = good;
  st.metadata["format"] = "taper-checkpoint-1";
  refused(st, "not a taper packed model");
}
