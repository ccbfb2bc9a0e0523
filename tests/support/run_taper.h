// Helpers for tests that run the `taper` program itself (CTest passes its
// path in TAPER_BIN): a fresh temporary folder and a command runner that
// returns the exit code and captures stdout and stderr.
#pragma once

#include <string>

namespace taper::testing {

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

// The taper binary (TAPER_BIN, else build/taper under the source tree).
std::string taper_bin();
// Runs `taper <args>` through the shell; args are passed as written.
RunResult run_taper(const std::string& args);
// A new empty folder under /tmp, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace taper::testing
