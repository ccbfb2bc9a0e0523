// The model JSON parser is strict: every bad file gets an Error that names
// the file, the layer and the key.
#include <catch2/catch.hpp>

#include "engine/error.h"
#include "models/model_spec.h"

using namespace taper;

static const char* kGood = R"({
  "name": "tiny", "input": [1, 8, 8], "classes": 3,
  "layers": [
    {"name": "c1", "type": "conv", "out_channels": 4, "kernel": 3, "padding": 1, "bias": false, "stage": 1},
    {"name": "b1", "type": "batchnorm"},
    {"name": "a1", "type": "qact"},
    {"name": "c2", "type": "conv", "out_channels": 4, "kernel": 3, "padding": 1, "stage": 2},
    {"name": "sum", "type": "add", "inputs": ["c2", "a1"]},
    {"name": "p", "type": "maxpool", "kernel": 2},
    {"name": "f", "type": "flatten"},
    {"name": "fc", "type": "linear", "out_features": "classes"}
  ]})";

static ModelSpec parse(const std::string& text) { return parse_model_json(text, "m.json"); }

// Replaces the first occurrence of `from` in kGood with `to`.
static std::string edit(const std::string& from, const std::string& to) {
  std::string s = kGood;
  auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

TEST_CASE("a valid model parses and its shapes are inferred") {
  ModelSpec m = parse(kGood);
  CHECK(m.name == "tiny");
  CHECK(m.num_stages == 2);
  REQUIRE(m.layers.size() == 8);
  CHECK(m.layers[0].inputs == std::vector<int>{-1});
  CHECK(m.layers[4].inputs == std::vector<int>{3, 2});
  CHECK(m.layers[5].out_shape == Shape{4, 4, 4});
  CHECK(m.layers[6].out_shape == Shape{64});
  CHECK(m.layers[7].out_shape == Shape{3});
  CHECK(m.layers[7].bias);        // PyTorch's default
  CHECK(!m.layers[0].bias);
}

TEST_CASE("the shipped models parse") {
  for (const char* name : {"vgg7", "vgg7-fmnist", "resnet20", "resnet18", "alexnet", "lenet5"}) {
    INFO(name);
    ModelSpec m = load_model_file(std::string(TAPER_SOURCE_DIR) + "/models/" + name + ".json");
    CHECK(m.name == name);
  }
  ModelSpec alex = load_model_file(std::string(TAPER_SOURCE_DIR) + "/models/alexnet.json");
  // 224 -> 54 (conv1) -> 27 -> 14 -> 6 and fc6 sees 256 x 6 x 6 = 9216.
  CHECK(alex.layers[0].out_shape == Shape{96, 54, 54});
  for (const auto& L : alex.layers)
    if (L.name == "fc6") CHECK(L.in_shape == Shape{9216});
}

TEST_CASE("bad model files fail with a message naming file, layer and key") {
  struct Case { std::string text, message; };
  std::vector<Case> cases = {
      {"{", "m.json: not valid JSON"},
      {"[1, 2]", "a model must be a JSON object"},
      {edit("\"name\": \"tiny\", ", ""), "missing key \"name\""},
      {edit("\"classes\": 3,", "\"classes\": 3, \"colour\": 1,"), "unknown key \"colour\""},
      {edit("\"classes\": 3", "\"classes\": 0"), "\"classes\" = 0 is out of range"},
      {edit("\"input\": [1, 8, 8]", "\"input\": [1, 8]"), "\"input\" must be [channels, height, width]"},
      {edit("\"input\": [1, 8, 8]", "\"input\": [1, 8, -8]"), "positive integers"},
      {edit("\"kernel\": 3, \"padding\": 1, \"bias\": false", "\"kernal\": 3"), "layer 'c1': missing key \"kernel\""},
      {edit("\"padding\": 1, \"bias\": false", "\"padding\": 1, \"bias\": false, \"dilation\": 2"),
       "layer 'c1': unknown key \"dilation\""},
      {edit("\"type\": \"batchnorm\"", "\"type\": \"batchnorm2d\""), "layer 'b1': unknown type \"batchnorm2d\""},
      {edit("\"name\": \"b1\"", "\"name\": \"c1\""), "layer 'c1': duplicate layer name"},
      {edit("\"inputs\": [\"c2\", \"a1\"]", "\"inputs\": [\"c2\", \"nope\"]"),
       "layer 'sum': input \"nope\" is not the name of an earlier layer"},
      {edit("\"inputs\": [\"c2\", \"a1\"]", "\"inputs\": [\"c2\"]"), "\"inputs\" must be a list of two"},
      {edit("\"inputs\": [\"c2\", \"a1\"]", "\"inputs\": [\"c2\", \"a1\"], \"input\": \"c2\""),
       "takes \"inputs\": [a, b], not \"input\""},
      {edit("\"out_channels\": 4, \"kernel\": 3, \"padding\": 1, \"stage\": 2",
            "\"out_channels\": 5, \"kernel\": 3, \"padding\": 1, \"stage\": 2"),
       "layer 'sum': cannot add (5, 8, 8) and (4, 8, 8)"},
      {edit("\"out_channels\": 4, \"kernel\": 3, \"padding\": 1, \"bias\": false",
            "\"out_channels\": 4, \"kernel\": 9, \"bias\": false"),
       "layer 'c1': kernel 9 does not fit the input height 8"},
      {edit("\"kernel\": 3, \"padding\": 1, \"bias\": false", "\"kernel\": 3, \"padding\": 1, \"groups\": 3, \"bias\": false"),
       "not divisible by groups 3"},
      {edit("\"stage\": 2", "\"stage\": 3"), "no layer has stage 2"},
      {edit("\"stage\": 1", "\"stage\": 0"), "\"stage\" = 0 is out of range"},
      {edit("\"stage\": 1", "\"stage\": \"one\""), "\"stage\" must be an integer"},
      {edit("\"bias\": false", "\"bias\": \"no\""), "\"bias\" must be true or false"},
      {edit("\"out_features\": \"classes\"", "\"out_features\": \"many\""), "must be an integer or \"classes\""},
      {edit("\"out_features\": \"classes\"", "\"out_features\": 4"), "outputs (4) but the model has 3 classes"},
      {edit("{\"name\": \"f\", \"type\": \"flatten\"},", ""), "linear needs a flat input"},
      {edit("\"kernel\": 2}", "\"kernel\": 2, \"padding\": 2}"), "must be at most half the kernel"},
      {edit("\"layers\": [", "\"layers\": [], \"x\": ["), "\"layers\" must be a non-empty list"},
      {edit("{\"name\": \"b1\", \"type\": \"batchnorm\"}", "{\"name\": \"b1\", \"type\": \"dropout\", \"p\": 1.0}"),
       "\"p\" = 1 is out of range [0, 1)"},
      {edit("{\"name\": \"b1\", \"type\": \"batchnorm\"}", "{\"name\": \"input\", \"type\": \"relu\"}"),
       "must be non-empty and not \"input\""},
      {edit("{\"name\": \"b1\", \"type\": \"batchnorm\"}", "7"), "a layer must be a JSON object"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK_THROWS_WITH(parse(c.text), Catch::Contains(c.message));
  }
  CHECK_THROWS_WITH(load_model_file("/nonexistent/m.json"), Catch::Contains("/nonexistent/m.json: cannot open"));
}
