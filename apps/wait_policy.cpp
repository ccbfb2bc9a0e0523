#include "apps/wait_policy.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "apps/files.h"

namespace taper::app {

void apply_wait_policy(char** argv) {
  if (std::getenv("TAPER_WAIT_POLICY")) return;  // already re-executed, or opted out
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;  // the user's choice
  if (setenv("GOMP_SPINCOUNT", kTaperSpinCount, 1) != 0) return;
  if (setenv("TAPER_WAIT_POLICY", "set", 1) != 0) return;
  const std::string self = self_executable();  // not /proc/self/exe: the process keeps its name
  execv(self.c_str(), argv);
  // exec failed (no /proc): carry on with libgomp's defaults, and keep the
  // environment as it was so that child processes see no trace.
  unsetenv("GOMP_SPINCOUNT");
  unsetenv("TAPER_WAIT_POLICY");
}

}  // namespace taper::app
