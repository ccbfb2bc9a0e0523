// taper — the command-line program. Subcommands live in apps/cmd_*.cpp; this
// file dispatches and is the one place that turns a taper::Error into a
// message on stderr and exit code 2. Under mpirun (engine/comm.h) a rank
// that fails ends the whole job, so the others do not wait for it forever.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "apps/commands.h"
#include "engine/comm.h"
#include "engine/error.h"

static void usage(FILE* out) {
  std::fprintf(out,
               "usage: taper <command> [options]\n"
               "commands:\n");
  for (const auto& c : taper::app::commands()) std::fprintf(out, "  %-10s %s\n", c.name, c.help);
  std::fprintf(out, "run 'taper <command> --help' for a command's options\n");
}

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  // "taper train: error: ..." from one process; "taper train (rank 1 of 2): error: ..." under mpirun.
  auto who = [&]() {
    return taper::comm_size() > 1 ? name + " (rank " + std::to_string(taper::comm_rank()) + " of " +
                                         std::to_string(taper::comm_size()) + ")"
                                   : name;
  };
  // A failure ends every rank of an MPI job (comm_abort); one process just returns.
  auto failed = [&](int code) {
    if (taper::comm_size() > 1) taper::comm_abort(code);
    taper::comm_finalize();
    return code;
  };
  try {
    taper::comm_init(&argc, &argv);
    // Under mpirun, rank 0 speaks for the job on stdout (results, tables,
    // JSON); every rank keeps stderr for its own errors.
    if (!taper::comm_is_root() && !std::freopen("/dev/null", "w", stdout))
      taper::fail("rank ", taper::comm_rank(), ": cannot redirect stdout to /dev/null");
    for (const auto& c : taper::app::commands())
      if (name == c.name) {
        const int code = c.run(argc - 1, argv + 1);
        taper::comm_finalize();
        return code;
      }
    std::fprintf(stderr, "taper: unknown command '%s' (run 'taper --help' for the list)\n", name.c_str());
    return failed(2);
  } catch (const taper::Error& e) {
    std::fprintf(stderr, "taper %s: error: %s\n", who().c_str(), e.what());
    return failed(2);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "taper %s: error: out of memory\n", who().c_str());
    return failed(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "taper %s: internal error: %s\n", who().c_str(), e.what());
    return failed(1);
  }
}
