#include "apps/commands.h"

namespace taper::app {

int cmd_version(int argc, char** argv);
int cmd_summary(int argc, char** argv);
int cmd_forward(int argc, char** argv);
int cmd_bench(int argc, char** argv);

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"bench", "training and inference throughput and peak memory on random data", cmd_bench},
      {"forward", "run a network on tensors from a safetensors file (PyTorch interop)", cmd_forward},
      {"summary", "layers, bits and sizes of a model under a bit policy", cmd_summary},
      {"version", "print the version and build flags", cmd_version},
  };
  return table;
}

}  // namespace taper::app
