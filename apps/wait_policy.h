// OpenMP waiting policy for a shared machine (docs/benchmarks.md, "Two
// processes on one machine").
//
// libgomp's idle threads spin at a barrier for GOMP_SPINCOUNT iterations
// (default 300,000, milliseconds of `pause` instructions) before they sleep.
// Alone that is fast; when the cores are shared (two taper processes on two
// cores, a build next to a training run) a thread spins while the thread it
// waits for is descheduled, and each process falls to a fraction of its solo
// speed. taper bounds the spinning to kTaperSpinCount iterations (tens of
// microseconds) unless the user chose a policy: if OMP_WAIT_POLICY or
// GOMP_SPINCOUNT is set in the environment, it is left alone.
//
// libgomp reads its environment once, when the library is loaded, before
// main() runs: setting the variable in main() would change nothing. So the
// program sets it and re-executes itself once (/proc/self/exe, same argv and
// environment, TAPER_WAIT_POLICY=set guards against a loop; setting
// TAPER_WAIT_POLICY to anything beforehand opts out). If the re-exec fails
// the program just goes on with libgomp's default.
#pragma once

namespace taper::app {

// The spin count taper sets (measured in docs/benchmarks.md).
constexpr const char* kTaperSpinCount = "1000";

// Call first thing in main(). Returns only when no re-exec was needed (or it
// failed); otherwise the process image is replaced.
void apply_wait_policy(char** argv);

}  // namespace taper::app
