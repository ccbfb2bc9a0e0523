// The subcommand table of the `taper` program.
#pragma once

#include <vector>

namespace taper::app {

struct Command {
  const char* name;
  const char* help;
  int (*run)(int argc, char** argv);  // argv[0] is the command name
};

const std::vector<Command>& commands();

}  // namespace taper::app
