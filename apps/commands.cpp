#include "apps/commands.h"

namespace taper::app {

int cmd_analyze(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_export(int argc, char** argv);
int cmd_forward(int argc, char** argv);
int cmd_summary(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_sweep(int argc, char** argv);
int cmd_report(int argc, char** argv);
int cmd_version(int argc, char** argv);

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"train", "train a network on a data set (checkpoints, resume, metrics, curves)", cmd_train},
      {"sweep", "run a grid of training runs (resumable), then report it", cmd_sweep},
      {"report", "results.csv, summary.md and plots of a folder of runs", cmd_report},
      {"eval", "measure a checkpoint on a data set", cmd_eval},
      {"export", "write the packed low-bit model file of a checkpoint (integer engine)", cmd_export},
      {"summary", "layers, bits and sizes of a model under a bit policy", cmd_summary},
      {"forward", "run a network on tensors from a safetensors file (PyTorch interop)", cmd_forward},
      {"analyze", "per-layer class separability (kNN, Fisher, t-SNE) and per-stage bit sensitivity of a checkpoint",
       cmd_analyze},
      {"bench", "time training steps and inference forwards (same fields as the PyTorch anchor)", cmd_bench},
      {"version", "print the version and build flags", cmd_version},
  };
  return table;
}

}  // namespace taper::app
