// Every bad model file, policy string, flag and tensor file we could think of
// gets exit code 2 and a one-line message from the `taper` program.
#include <catch2/catch.hpp>
#include <fstream>

#include "data_fixtures.h"
#include "engine/safetensors.h"
#include "support/run_taper.h"

using namespace taper;
using namespace taper::testing;

namespace {

const std::string kModel = std::string(TAPER_SOURCE_DIR) + "/models/lenet5.json";

}  // namespace

TEST_CASE("summary: bad models, policies and flags exit with 2") {
  TempDir d;
  write_text(d / "bad.json", "{\"name\": \"x\",");
  write_text(d / "unknown.json",
             "{\"name\":\"x\",\"input\":[1,4,4],\"classes\":2,\"layers\":[{\"name\":\"f\",\"type\":\"flatten\","
             "\"colour\":1},{\"name\":\"o\",\"type\":\"linear\",\"out_features\":\"classes\"}]}");
  expect_usage_error("summary", "missing the model file");
  expect_usage_error("summary /nonexistent/model.json", "no such model file");
  expect_usage_error("summary nosuchmodel", "no shipped model of that name");
  expect_usage_error("summary " + d / "bad.json", "not valid JSON");
  expect_usage_error("summary " + d / "unknown.json", "layer 'f': unknown key \"colour\"");
  expect_usage_error("summary lenet5 --wbits 8-4", "gives 2 values but the model has 3 stages");
  expect_usage_error("summary lenet5 --wbits 9", "weight bits are 1-8 or 32");
  expect_usage_error("summary lenet5 --wbits progressive:0", "K in progressive:K must be 1..8");
  expect_usage_error("summary lenet5 --abits 0", "activation bits are 1-8 or 32");
  expect_usage_error("summary lenet5 --abits two", "activation bits are 1-8 or 32");
  expect_usage_error("summary lenet5 --width 0", "--width: 0 is out of range");
  expect_usage_error("summary lenet5 --width abc", "--width: expected a number");
  expect_usage_error("summary lenet5 --width 2 --match-size 2", "cannot be used together");
  expect_usage_error("summary lenet5 --match-size 8-8", "gives 2 values");
  expect_usage_error("summary lenet5 --wibts 2", "unknown flag --wibts");
  expect_usage_error("summary lenet5 --wbits", "flag --wbits needs a value");
  expect_usage_error("summary lenet5 --wbits --abits 2", "flag --wbits needs a value");
  expect_usage_error("summary lenet5 --wibts", "unknown flag --wibts");
  expect_usage_error("summary lenet5 --wibts --abits 2", "unknown flag --wibts");
  expect_usage_error("summary lenet5 --json=1", "takes no value");
  expect_usage_error("summary lenet5 lenet5", "unexpected argument");
  expect_usage_error("summary lenet5 -x", "unknown option '-x'");
  expect_usage_error("nosuchcommand", "unknown command");
}

TEST_CASE("forward: bad tensor files and flags exit with 2") {
  TempDir d;
  // A good input and weights to start from.
  SafeTensors in;
  in.put("input", Tensor({2, 1, 28, 28}));
  in.put_i64("labels", {2}, {1, 3});
  save_safetensors(d / "in.st", in);
  REQUIRE(run_taper("forward lenet5 --init 1 --input " + d / "in.st" + " --output " + d / "out.st" +
                    " --save-weights " + d / "w.st")
              .exit_code == 0);
  SafeTensors w = load_safetensors(d / "w.st");

  SafeTensors bad_shape = in;
  bad_shape.put("input", Tensor({2, 1, 27, 28}));
  save_safetensors(d / "shape.st", bad_shape);
  SafeTensors bad_labels = in;
  bad_labels.put_i64("labels", {3}, {1, 2, 3});
  save_safetensors(d / "labels.st", bad_labels);
  SafeTensors label_range = in;
  label_range.put_i64("labels", {2}, {1, 10});
  save_safetensors(d / "range.st", label_range);
  SafeTensors extra = in;
  extra.put("target", Tensor({2}));
  save_safetensors(d / "extra.st", extra);
  SafeTensors no_input;
  no_input.put_i64("labels", {2}, {1, 3});
  save_safetensors(d / "noinput.st", no_input);
  write_text(d / "garbage.st", "this is not a safetensors file at all");
  {
    const std::string all = read_text(d / "in.st");
    write_text(d / "truncated.st", all.substr(0, all.size() / 2));
  }
  SafeTensors missing = w;
  missing.entries.erase("conv2.weight");
  save_safetensors(d / "missing.st", missing);
  SafeTensors misshaped = w;
  misshaped.put("fc1.weight", Tensor({120, 5}));
  save_safetensors(d / "misshaped.st", misshaped);
  SafeTensors unknown = w;
  unknown.put("conv9.weight", Tensor({1}));
  save_safetensors(d / "unknown.st", unknown);

  const std::string out = " --output " + d / "o.st";
  const std::string good_in = " --input " + d / "in.st";
  expect_usage_error("forward lenet5 --init 1" + out, "--input X.safetensors is required");
  expect_usage_error("forward lenet5 --init 1" + good_in, "--output OUT.safetensors is required");
  expect_usage_error("forward lenet5" + good_in + out, "give --weights W.safetensors or --init SEED");
  expect_usage_error("forward lenet5 --init 1 --weights " + d / "w.st" + good_in + out, "not both");
  expect_usage_error("forward lenet5 --init -3" + good_in + out, "--init: -3 is out of range");
  expect_usage_error("forward lenet5 --init 1 --input " + d / "nope.st" + out, "nope.st");
  expect_usage_error("forward lenet5 --init 1 --input " + d / "garbage.st" + out, "garbage.st");
  expect_usage_error("forward lenet5 --init 1 --input " + d / "truncated.st" + out, "truncated.st");
  expect_usage_error("forward lenet5 --init 1 --input " + d / "shape.st" + out, "does not match the model's");
  expect_usage_error("forward lenet5 --init 1 --input " + d / "labels.st" + out, "\"labels\" has shape (3)");
  expect_usage_error("forward lenet5 --init 1 --input " + d / "range.st" + out, "10");
  expect_usage_error("forward lenet5 --init 1 --input " + d / "extra.st" + out, "unexpected tensor \"target\"");
  expect_usage_error("forward lenet5 --init 1 --input " + d / "noinput.st" + out, "no tensor named \"input\"");
  expect_usage_error("forward lenet5 --weights " + d / "missing.st" + good_in + out,
                     "tensor \"conv2.weight\" is missing");
  expect_usage_error("forward lenet5 --weights " + d / "misshaped.st" + good_in + out,
                     "tensor \"fc1.weight\" has shape (120, 5)");
  expect_usage_error("forward lenet5 --weights " + d / "unknown.st" + good_in + out,
                     "tensor \"conv9.weight\" does not belong");
  expect_usage_error("forward lenet5 --weights " + d / "garbage.st" + good_in + out, "garbage.st");
  expect_usage_error("forward lenet5 --threads 0 --init 1" + good_in + out, "--threads: 0 is out of range");
  // Wrong model for the weights: vgg7-fmnist weights into lenet5.
  expect_usage_error("forward vgg7-fmnist --weights " + d / "w.st" + good_in + out,
                     "tensor \"conv1.weight\" has shape (6, 1, 5, 5) but the model needs (64, 1, 3, 3)");
}
