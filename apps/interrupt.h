// Stopping a training run cleanly: SIGINT (Ctrl-C) or SIGTERM (kill, a job
// scheduler) asks the run to stop after the step in progress; `taper train`
// then writes a checkpoint of that point, says how to resume, and exits with
// 128 + the signal number. A second SIGINT ends the process at once (the
// checkpoint of the last finished epoch, or of the last clean stop, stays).
//
// While the handlers are installed, SIGXFSZ (a file-size limit, `ulimit -f`)
// is ignored, so a checkpoint that outgrows the limit fails as a write error
// with a message instead of killing the process.
#pragma once

namespace taper::app {

void install_stop_handlers();
// The signal that asked to stop (SIGINT or SIGTERM), or 0. Under mpirun the
// ranks agree: a signal seen by any rank stops every rank after the same step.
int stop_requested();

}  // namespace taper::app
