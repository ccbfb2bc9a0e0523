#include "apps/commands.h"

namespace taper::app {

int cmd_version(int argc, char** argv);

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"version", "print the version and build flags", cmd_version},
  };
  return table;
}

}  // namespace taper::app
