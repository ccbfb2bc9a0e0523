// cmake --install into a temporary prefix, then a separate CMake project
// that uses find_package(taper) and examples/classify.cpp, built and run on
// a packed model and an image: it prints the class the engine computes.
#include <stb_image_write.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/rng.h"
#include "models/export.h"
#include "models/model.h"
#include "models/packed_model.h"
#include "quant/policy.h"
#include "support/temp_dir.h"

using namespace taper;
using namespace taper::testing;

TEST_CASE("an installed taper builds and runs examples/classify.cpp via find_package") {
  TempDir dir;
  // A packed lenet5 (seed-0 weights, w2a2) and a 28x28 grey image.
  const ModelSpec spec = load_model_file(std::string(TAPER_SOURCE_DIR) + "/models/lenet5.json");
  Model model(spec, BuildOptions{parse_wbits("2", spec.num_stages), 2});
  model.init(0);
  SafeTensors file = export_packed(model, "2", 1.0, {0.5}, {0.25});
  save_safetensors(dir / "m.taper", file);
  std::vector<unsigned char> px(28 * 28);
  Rng rng(9);
  for (auto& p : px) p = static_cast<unsigned char>(rng.below(256));
  REQUIRE(stbi_write_png((dir / "img.png").c_str(), 28, 28, 1, px.data(), 28) != 0);
  Tensor x({1, 1, 28, 28});
  for (int i = 0; i < 28 * 28; ++i) x[i] = static_cast<float>((px[i] / 255.0 - 0.5) / 0.25);
  file.source = dir / "m.taper";
  PackedModel pm(file);
  const Tensor& logits = pm.forward(x);
  int best = 0;
  for (int k = 1; k < 10; ++k)
    if (logits[k] > logits[best]) best = k;

  const std::string prefix = dir / "prefix", proj = dir / "app";
  const std::string log = dir / "log.txt";
  INFO("log: " << log);
  REQUIRE(std::system(("cmake --install " + std::string(TAPER_BINARY_DIR) + " --prefix " + prefix + " > " + log +
                       " 2>&1").c_str()) == 0);
  std::system(("mkdir -p " + proj + " && cp " + std::string(TAPER_SOURCE_DIR) + "/examples/classify.cpp " + proj)
                  .c_str());
  std::ofstream(proj + "/CMakeLists.txt") << "cmake_minimum_required(VERSION 3.16)\n"
                                              "project(classify_app CXX)\n"
                                              "set(CMAKE_CXX_STANDARD 17)\n"
                                              "find_package(taper REQUIRED)\n"
                                              "add_executable(classify classify.cpp)\n"
                                              "target_link_libraries(classify PRIVATE taper::taper)\n";
  const int built = std::system(("cmake -S " + proj + " -B " + proj + "/build -DCMAKE_BUILD_TYPE=Release " +
                                 "-DCMAKE_PREFIX_PATH=" + prefix + " >> " + log + " 2>&1 && cmake --build " + proj +
                                 "/build >> " + log + " 2>&1")
                                    .c_str());
  if (built != 0) {
    std::ifstream f(log);
    std::stringstream ss;
    ss << f.rdbuf();
    FAIL(ss.str());
  }
  const std::string out = dir / "out.txt";
  REQUIRE(std::system((proj + "/build/classify " + dir / "m.taper " + dir / "img.png 3 > " + out).c_str()) == 0);
  std::ifstream f(out);
  std::string first;
  std::getline(f, first);
  CHECK(first.rfind("class " + std::to_string(best) + " ", 0) == 0);
}
