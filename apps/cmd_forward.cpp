// taper forward MODEL.json --input X.safetensors --output OUT.safetensors
//   [--weights W.safetensors | --init SEED] [--save-weights FILE]
//   [--wbits SPEC] [--abits K] [--width W] [--train]
// Runs the network on tensors, for interop and for checking against PyTorch.
#include <sys/stat.h>

#include <cstdio>
#include <set>

#include "apps/model_choice.h"
#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/safetensors.h"
#include "layers/loss.h"
#include "models/export.h"
#include "models/model.h"
#include "models/packed_model.h"
#include "models/train_step.h"

namespace taper::app {

static const char* kUsage =
    "usage: taper forward MODEL.json --input X.safetensors --output OUT.safetensors\n"
    "                     [--weights W.safetensors | --init SEED] [--save-weights FILE]\n"
    "                     [--wbits SPEC] [--abits K] [--width W] [--train] [--threads T]\n"
    "  X holds \"input\" float32 (N, C, H, W) and optionally \"labels\" int64 (N).\n"
    "  OUT gets \"logits\" (N, classes) and, with labels, \"loss\" and \"<param>.grad\"\n"
    "  for every trainable parameter (gradient of the mean cross-entropy).\n"
    "  Weights are named <layer>.weight, <layer>.bias, <layer>.running_mean,\n"
    "  <layer>.running_var, in PyTorch layouts. --train: batch norm uses batch\n"
    "  statistics (and updates its running statistics, which --save-weights keeps).\n"
    "usage: taper forward PACKED_FILE --input X.safetensors --output OUT.safetensors [--threads T]\n"
    "  A packed model file (taper export) runs on the integer engine: OUT gets \"logits\"\n"
    "  (N, classes) of X's \"input\" (normalized as the model was trained; no labels,\n"
    "  no gradients).\n";

// taper forward PACKED_FILE: the integer engine on X's "input".
static int forward_packed(const SafeTensors& file, Args& args) {
  auto input_path = args.get("--input");
  auto output_path = args.get("--output");
  set_num_threads(static_cast<int>(args.get_int("--threads", num_threads(), 1, 256)));
  args.finish();
  if (!input_path) fail("--input X.safetensors is required");
  if (!output_path) fail("--output OUT.safetensors is required");
  PackedModel model(file);
  SafeTensors in = load_safetensors(*input_path);
  for (const auto& [name, entry] : in.entries)
    check(name == "input", *input_path, ": unexpected tensor \"", name,
          "\" (a packed model takes only \"input\": no labels, no gradients)");
  check(in.has("input"), *input_path, ": no tensor named \"input\"");
  SafeTensors out;
  out.put("logits", model.forward(in.get("input")));
  save_safetensors(*output_path, out);
  return 0;
}

int cmd_forward(int argc, char** argv) {
  Args args(argc, argv, {"--train"});
  if (args.help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positional(1, "the model file");
  {
    const std::string& m = args.positional()[0];
    struct stat sb;
    if ((m.size() < 5 || m.compare(m.size() - 5, 5, ".json") != 0) && stat(m.c_str(), &sb) == 0 &&
        S_ISREG(sb.st_mode)) {
      SafeTensors file = load_safetensors(m);
      check(is_packed_file(file), m, ": a safetensors file that is not a packed model (taper export); give a model "
            "JSON with --weights to run a checkpoint");
      return forward_packed(file, args);
    }
  }
  const bool train = args.flag("--train");
  auto input_path = args.get("--input");
  auto output_path = args.get("--output");
  auto weights_path = args.get("--weights");
  auto init = args.get("--init");
  auto save_weights = args.get("--save-weights");
  set_num_threads(static_cast<int>(args.get_int("--threads", num_threads(), 1, 256)));
  ModelChoice c = read_model_choice(args, args.positional()[0]);
  args.finish();
  if (!input_path) fail("--input X.safetensors is required");
  if (!output_path) fail("--output OUT.safetensors is required");
  if (weights_path && init) fail("give --weights or --init, not both");
  if (!weights_path && !init) fail("give --weights W.safetensors or --init SEED");

  Model model(c.spec, BuildOptions{c.stage_bits, c.abits});
  if (weights_path)
    model.load(load_safetensors(*weights_path));
  else
    model.init(static_cast<uint64_t>(parse_int(*init, "--init", 0, INT64_MAX)));

  SafeTensors in = load_safetensors(*input_path);
  for (const auto& [name, entry] : in.entries)
    check(name == "input" || name == "labels", *input_path, ": unexpected tensor \"", name,
          "\" (expected \"input\" and optionally \"labels\")");
  check(in.has("input"), *input_path, ": no tensor named \"input\"");
  Var x(in.get("input"));
  check(x.data.ndim() == 4, *input_path, ": \"input\" must be (N, C, H, W), got ", shape_str(x.data.shape()));
  std::vector<int64_t> labels;
  const bool with_labels = in.has("labels");
  if (with_labels) {
    Shape shape;
    labels = in.get_i64("labels", &shape);
    check(shape == Shape{x.data.dim(0)}, *input_path, ": \"labels\" has shape ", shape_str(shape),
          " but \"input\" has ", x.data.dim(0), " images");
  }

  model.set_training(train);
  Tape tape;
  SafeTensors out;
  if (with_labels) {
    // The training step without its update: the gradients of the mean
    // cross-entropy, with the logits read before backward frees them.
    SoftmaxCrossEntropy loss_op;
    std::vector<ParamGroup> groups = model.param_groups(0.0f);
    const StepResult r = compute_gradients(model, groups, loss_op, x, labels, tape,
                                           [&](const Var& logits) { out.put("logits", logits.data); });
    out.put("loss", Tensor::from(Shape{}, {static_cast<float>(r.loss)}));  // () as the loss op's output
    for (auto& p : model.parameters()) out.put(p.name + ".grad", p.var->grad);
  } else {
    tape.set_recording(false);
    out.put("logits", model.forward(x, tape).data);
  }
  save_safetensors(*output_path, out);
  if (save_weights) {
    SafeTensors w;
    model.save(w);
    save_safetensors(*save_weights, w);
  }
  return 0;
}

}  // namespace taper::app
