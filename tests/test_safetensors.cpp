#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/error.h"
#include "engine/safetensors.h"
#include "support/files.h"

using namespace taper;
using namespace taper::testing;
namespace fs = std::filesystem;

namespace {

// A scratch directory per test process, removed at exit.
struct ScratchDir {
  fs::path dir;
  ScratchDir() {
    dir = fs::temp_directory_path() / ("taper_test_safetensors_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
};
const ScratchDir scratch;

// 8-byte little-endian length n.
std::string u64_le(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((n >> (8 * i)) & 0xff);
  return s;
}

// A file: length of the header, the header as given, then `data`.
std::string file_bytes(const std::string& header, const std::string& data) {
  return u64_le(header.size()) + header + data;
}

std::string float_bytes(std::initializer_list<float> values) {
  std::string s;
  for (float v : values) s.append(reinterpret_cast<const char*>(&v), sizeof v);
  return s;
}

// Writes `bytes` to a fresh file and expects load_safetensors to reject it
// with a message naming the file and containing `expected`.
void expect_rejected(const std::string& bytes, const std::string& expected) {
  static int counter = 0;
  const std::string path = scratch.path("bad_" + std::to_string(counter++) + ".safetensors");
  write_text(path, bytes);
  INFO("expected rejection: " << expected);
  try {
    load_safetensors(path);
    FAIL("file was accepted");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(expected) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("safetensors round trip of F32, I64 and metadata") {
  SafeTensors st;
  st.put("conv1.weight", Tensor::from({2, 1, 3}, {0.5f, -1.25f, 3.0f, 1e-30f, -0.0f, 7.75f}));
  st.put("scalar", Tensor::from({}, {42.5f}));
  st.put("empty", Tensor::zeros({0, 4}));
  st.put_i64("bn.num_batches", {}, {123456789012345});
  st.put_i64("labels", {2, 2}, {-1, 0, 9, INT64_MIN});
  st.metadata["format"] = "pt";
  st.metadata["taper"] = "model \"q\" \u00e9";
  const std::string path = scratch.path("roundtrip.safetensors");
  save_safetensors(path, st);

  SafeTensors back = load_safetensors(path);
  CHECK(back.source == path);
  CHECK(back.metadata == st.metadata);
  REQUIRE(back.entries.size() == st.entries.size());
  for (const auto& [name, e] : st.entries) {
    REQUIRE(back.has(name));
    CHECK(back.entries.at(name).dtype == e.dtype);
    CHECK(back.entries.at(name).shape == e.shape);
    CHECK(back.entries.at(name).bytes == e.bytes);
  }
  Tensor w = back.get("conv1.weight");
  CHECK(w.shape() == Shape{2, 1, 3});
  CHECK(w[1] == -1.25f);
  CHECK(w[3] == 1e-30f);
  CHECK(std::signbit(w[4]));
  CHECK(back.get("scalar").shape().empty());
  CHECK(back.get("scalar")[0] == 42.5f);
  CHECK(back.get("empty").shape() == Shape{0, 4});
  Shape shape;
  CHECK(back.get_i64("labels", &shape) == std::vector<int64_t>{-1, 0, 9, INT64_MIN});
  CHECK(shape == Shape{2, 2});
  CHECK(back.get_i64("bn.num_batches") == std::vector<int64_t>{123456789012345});
}

// The bytes Python's safetensors.torch.save_file writes for
//   {"w": tensor([1., -2.]), "n": tensor(7)}, metadata={"format": "pt"}
// worked out by hand from the format: compact JSON, __metadata__ first, then
// the tensors in data order (8-byte dtypes first, so n before w), each
// entry's keys as dtype, shape, data_offsets; 138 header bytes padded with
// 6 spaces to 144 = 0x90.
TEST_CASE("safetensors writes and reads the exact bytes Python's safetensors produces") {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
      R"("w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
  REQUIRE(header.size() == 138);
  std::string expected("\x90\0\0\0\0\0\0\0", 8);
  expected += header + "      ";
  expected += std::string("\x07\0\0\0\0\0\0\0", 8);  // int64 7
  expected += std::string("\0\0\x80\x3f", 4);        // float 1.0
  expected += std::string("\0\0\0\xc0", 4);          // float -2.0

  SafeTensors st;
  st.put("w", Tensor::from({2}, {1.0f, -2.0f}));
  st.put_i64("n", {}, {7});
  st.metadata["format"] = "pt";
  const std::string path = scratch.path("python.safetensors");
  save_safetensors(path, st);
  CHECK(read_text(path) == expected);

  const std::string hand = scratch.path("hand.safetensors");
  write_text(hand, expected);
  SafeTensors loaded = load_safetensors(hand);
  CHECK(loaded.metadata.at("format") == "pt");
  CHECK(loaded.get_i64("n") == std::vector<int64_t>{7});
  Tensor w = loaded.get("w");
  CHECK(w.shape() == Shape{2});
  CHECK(w[0] == 1.0f);
  CHECK(w[1] == -2.0f);
}

// A header whose length is already a multiple of 8 gets no padding.
TEST_CASE("safetensors header without padding, offsets contiguous in name order") {
  SafeTensors st;
  st.put("attn.0", Tensor::from({1, 2, 3}, {0, 1, 2, 3, 4, 5}));
  const std::string path = scratch.path("nopad.safetensors");
  save_safetensors(path, st);
  const std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  REQUIRE(header.size() == 64);
  CHECK(read_text(path) == file_bytes(header, float_bytes({0, 1, 2, 3, 4, 5})));

  SafeTensors two;
  two.put("b", Tensor::from({1}, {2.0f}));
  two.put("a", Tensor::from({2}, {1.0f, 1.5f}));
  save_safetensors(path, two);
  const std::string header2 = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  CHECK(read_text(path) == file_bytes(header2 + std::string((8 - header2.size() % 8) % 8, ' '),
                                      float_bytes({1.0f, 1.5f, 2.0f})));
}

TEST_CASE("safetensors converts F64, F16 and BF16 to float and narrow integers to int64") {
  std::string data;
  for (double v : {0.1, -3.5}) data.append(reinterpret_cast<const char*>(&v), 8);
  // F16: 1.0, -2.0, 0.333251953125, 2^-24 (smallest subnormal), 65504 (max), +inf
  for (uint16_t h : {0x3C00, 0xC000, 0x3555, 0x0001, 0x7BFF, 0x7C00})
    data.append(reinterpret_cast<const char*>(&h), 2);
  // BF16: 1.0, -3.0, 0.333984375
  for (uint16_t h : {0x3F80, 0xC040, 0x3EAB}) data.append(reinterpret_cast<const char*>(&h), 2);
  // I32 -5, 70000; I16 -300; I8 -128; U8 255
  for (int32_t v : {-5, 70000}) data.append(reinterpret_cast<const char*>(&v), 4);
  const int16_t i16 = -300;
  data.append(reinterpret_cast<const char*>(&i16), 2);
  data += '\x80';
  data += '\xff';
  std::string header = R"({"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},)"
                       R"("h":{"dtype":"F16","shape":[2,3],"data_offsets":[16,28]},)"
                       R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[28,34]},)"
                       R"("i32":{"dtype":"I32","shape":[2],"data_offsets":[34,42]},)"
                       R"("i16":{"dtype":"I16","shape":[1],"data_offsets":[42,44]},)"
                       R"("i8":{"dtype":"I8","shape":[1],"data_offsets":[44,45]},)"
                       R"("u8":{"dtype":"U8","shape":[1],"data_offsets":[45,46]}})";
  const std::string path = scratch.path("convert.safetensors");
  write_text(path, file_bytes(header, data));
  SafeTensors st = load_safetensors(path);

  Tensor d = st.get("d");
  CHECK(d[0] == static_cast<float>(0.1));
  CHECK(d[1] == -3.5f);
  Tensor h = st.get("h");
  CHECK(h.shape() == Shape{2, 3});
  CHECK(h[0] == 1.0f);
  CHECK(h[1] == -2.0f);
  CHECK(h[2] == 0.333251953125f);
  CHECK(h[3] == std::ldexp(1.0f, -24));
  CHECK(h[4] == 65504.0f);
  CHECK(std::isinf(h[5]));
  CHECK(std::isnan(half_to_float(0x7E00)));
  Tensor b = st.get("b");
  CHECK(b[0] == 1.0f);
  CHECK(b[1] == -3.0f);
  CHECK(b[2] == 0.333984375f);
  CHECK(st.get_i64("i32") == std::vector<int64_t>{-5, 70000});
  CHECK(st.get_i64("i16") == std::vector<int64_t>{-300});
  CHECK(st.get_i64("i8") == std::vector<int64_t>{-128});
  CHECK(st.get_i64("u8") == std::vector<int64_t>{255});

  CHECK_THROWS_WITH(st.get("i32"), Catch::Contains("'i32'") && Catch::Contains(path) &&
                                       Catch::Contains("expected a float tensor"));
  CHECK_THROWS_WITH(st.get_i64("d"), Catch::Contains("'d'") && Catch::Contains(path) &&
                                         Catch::Contains("expected an integer tensor"));
  CHECK_THROWS_WITH(st.get("nope"), Catch::Contains("'nope' not found") && Catch::Contains(path));
  CHECK_FALSE(st.has("nope"));
}

TEST_CASE("safetensors rejects malformed files with a message naming the file") {
  const std::string f32x2 = float_bytes({1.0f, 2.0f});
  auto one = [](const std::string& entry) { return std::string(R"({"a":)") + entry + "}"; };

  SECTION("length prefix") {
    expect_rejected("", "too short");
    expect_rejected(std::string("\x08\0\0\0\0", 5), "too short");
    expect_rejected(u64_le(100) + "{}", "runs past the end of the file");
    expect_rejected(u64_le(uint64_t(1) << 40) + "{}", "absurdly large");
    expect_rejected(u64_le(UINT64_MAX) + "{}", "absurdly large");
  }
  SECTION("header JSON") {
    expect_rejected(u64_le(0), "not a JSON object");
    expect_rejected(file_bytes(R"({"a":)", ""), "not valid JSON");
    expect_rejected(file_bytes(R"([1,2])", ""), "not a JSON object");
    expect_rejected(file_bytes(R"( {})", ""), "not a JSON object");
    expect_rejected(file_bytes(std::string("{}\0\0", 4), ""), "NUL byte");
    expect_rejected(file_bytes(R"({} x)", ""), "not valid JSON");
    expect_rejected(file_bytes("{\"a\xff\":1}", ""), "not valid JSON");
    expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                               f32x2),
                    "'a' twice");
  }
  SECTION("entry keys") {
    expect_rejected(file_bytes(one("5"), ""), "expected an object");
    expect_rejected(file_bytes(one(R"({"shape":[2],"data_offsets":[0,8]})"), f32x2),
                    "missing key 'dtype'");
    expect_rejected(file_bytes(one(R"({"dtype":"F32","data_offsets":[0,8]})"), f32x2),
                    "missing key 'shape'");
    expect_rejected(file_bytes(one(R"({"dtype":"F32","shape":[2]})"), f32x2),
                    "missing key 'data_offsets'");
    expect_rejected(
        file_bytes(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8],"foo":1})"), f32x2),
        "unknown key 'foo'");
  }
  SECTION("dtype and shape") {
    expect_rejected(file_bytes(one(R"({"dtype":"F8","shape":[2],"data_offsets":[0,2]})"), "xx"),
                    "unknown dtype 'F8'");
    expect_rejected(file_bytes(one(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})"), f32x2),
                    "dtype must be a string");
    expect_rejected(file_bytes(one(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), f32x2),
                    "negative dimension");
    expect_rejected(file_bytes(one(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"), f32x2),
                    "non-negative integers");
    expect_rejected(file_bytes(one(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})"), f32x2),
                    "shape must be an array");
    expect_rejected(
        file_bytes(one(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]})"), f32x2),
        "has 9 dimensions; taper tensors have at most 8");
    expect_rejected(
        file_bytes(one(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]})"),
                   f32x2),
        "too large");
  }
  SECTION("offsets and sizes") {
    expect_rejected(file_bytes(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"), f32x2),
                    "begin > end");
    expect_rejected(file_bytes(one(R"({"dtype":"F32","shape":[2],"data_offsets":[4,12]})"), f32x2),
                    "past the end of the data buffer");
    expect_rejected(file_bytes(one(R"({"dtype":"F32","shape":[2],"data_offsets":[-1,8]})"), f32x2),
                    "non-negative integers");
    expect_rejected(file_bytes(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})"), f32x2),
                    "[begin, end]");
    expect_rejected(file_bytes(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), f32x2),
                    "needs 12");
    expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                               float_bytes({1, 2, 3})),
                    "overlaps");
    expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                               float_bytes({1, 2, 3})),
                    "belong to no tensor");
    expect_rejected(file_bytes(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})"), f32x2),
                    "after the last tensor");
  }
  SECTION("metadata") {
    expect_rejected(file_bytes(R"({"__metadata__":{"k":1}})", ""), "must be a string");
    expect_rejected(file_bytes(R"({"__metadata__":["k"]})", ""), "must be an object");
  }
  SECTION("not a file") {
    const std::string missing = scratch.path("does_not_exist.safetensors");
    CHECK_THROWS_WITH(load_safetensors(missing),
                      Catch::Contains("cannot open") && Catch::Contains(missing));
    const std::string dir = scratch.path("a_directory");
    fs::create_directories(dir);
    CHECK_THROWS_WITH(load_safetensors(dir),
                      Catch::Contains("is a directory") && Catch::Contains(dir));
  }
}

TEST_CASE("safetensors accepts an empty header and zero-size tensors") {
  const std::string path = scratch.path("empty.safetensors");
  write_text(path, file_bytes("{}      ", ""));
  CHECK(load_safetensors(path).entries.empty());
  write_text(path, file_bytes(R"({"z":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}})", ""));
  CHECK(load_safetensors(path).get("z").shape() == Shape{0, 3});
}

TEST_CASE("safetensors save replaces the old file and leaves no .tmp behind") {
  const std::string path = scratch.path("replace.safetensors");
  SafeTensors first;
  first.put("x", Tensor::from({1}, {1.0f}));
  save_safetensors(path, first);
  SafeTensors second;
  second.put("y", Tensor::from({2}, {2.0f, 3.0f}));
  save_safetensors(path, second);
  CHECK_FALSE(fs::exists(path + ".tmp"));
  SafeTensors back = load_safetensors(path);
  CHECK_FALSE(back.has("x"));
  CHECK(back.get("y")[1] == 3.0f);

  // A save that cannot write its temporary file fails and keeps the old file.
  fs::create_directories(path + ".tmp");
  CHECK_THROWS_WITH(save_safetensors(path, first), Catch::Contains("cannot write"));
  fs::remove(path + ".tmp");
  CHECK(load_safetensors(path).has("y"));
  CHECK_THROWS_WITH(save_safetensors(scratch.path("no_such_dir/a.safetensors"), first),
                    Catch::Contains("cannot write"));
}

TEST_CASE("safetensors save rejects inconsistent in-memory entries") {
  const std::string path = scratch.path("inconsistent.safetensors");
  SafeTensors st;
  st.entries["bad"] = StEntry{"F32", {3}, std::vector<char>(8)};
  CHECK_THROWS_WITH(save_safetensors(path, st),
                    Catch::Contains("'bad'") && Catch::Contains("needs 12"));
  CHECK_THROWS_WITH(st.get("bad"), Catch::Contains("needs 12"));
  st.entries["bad"] = StEntry{"Q4", {1}, std::vector<char>(1)};
  CHECK_THROWS_WITH(save_safetensors(path, st), Catch::Contains("unknown dtype 'Q4'"));
  CHECK_THROWS_WITH(SafeTensors().put("__metadata__", Tensor::zeros({1})),
                    Catch::Contains("__metadata__"));
  CHECK_THROWS_WITH(SafeTensors().put_i64("v", {2}, {1}), Catch::Contains("1 values"));
  CHECK_FALSE(fs::exists(path));
}
