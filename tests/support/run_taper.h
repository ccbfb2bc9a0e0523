// Helpers for tests that run the `taper` program itself (CTest passes its
// path in TAPER_BIN): a command runner that returns the exit code and
// captures stdout and stderr.
#pragma once

#include <string>

#include "support/temp_dir.h"

namespace taper::testing {

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

// The taper binary (TAPER_BIN, else build/taper under the source tree).
std::string taper_bin();
// Runs `taper <args>` through the shell; args are passed as written.
RunResult run_taper(const std::string& args);
// Runs taper and CHECKs a usage error: exit code 2, nothing on stdout, and
// exactly one line on stderr that contains `needle`.
void expect_usage_error(const std::string& args, const std::string& needle);
}  // namespace taper::testing
