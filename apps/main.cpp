// taper — the command-line program. Subcommands live in apps/cmd_*.cpp; this
// file dispatches and is the one place that turns a taper::Error into a
// message on stderr and exit code 2.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "apps/commands.h"
#include "apps/wait_policy.h"
#include "engine/error.h"

static void usage(FILE* out) {
  std::fprintf(out,
               "usage: taper <command> [options]\n"
               "commands:\n");
  for (const auto& c : taper::app::commands()) std::fprintf(out, "  %-10s %s\n", c.name, c.help);
  std::fprintf(out, "run 'taper <command> --help' for a command's options\n");
}

int main(int argc, char** argv) {
  taper::app::apply_wait_policy(argv);  // may re-execute the program once
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  try {
    for (const auto& c : taper::app::commands())
      if (name == c.name) return c.run(argc - 1, argv + 1);
    std::fprintf(stderr, "taper: unknown command '%s' (run 'taper --help' for the list)\n", name.c_str());
    return 2;
  } catch (const taper::Error& e) {
    std::fprintf(stderr, "taper %s: error: %s\n", name.c_str(), e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "taper %s: error: out of memory\n", name.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "taper %s: internal error: %s\n", name.c_str(), e.what());
    return 1;
  }
}
