#include "support/run_taper.h"

#include <algorithm>
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace taper::testing {

std::string taper_bin() {
  const char* env = std::getenv("TAPER_BIN");
  return env ? env : std::string(TAPER_SOURCE_DIR) + "/build/taper";
}

static std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

RunResult run_taper(const std::string& args) {
  TempDir io;
  std::string cmd = taper_bin() + " " + args + " >" + (io / "out") + " 2>" + (io / "err");
  int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(io / "out");
  r.err = slurp(io / "err");
  return r;
}

void expect_usage_error(const std::string& args, const std::string& needle) {
  RunResult r = run_taper(args);
  INFO("taper " << args << "\nstdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(needle) != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.out.empty());
}

}  // namespace taper::testing
