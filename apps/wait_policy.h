// OpenMP waiting policy for a shared machine (docs/benchmarks.md, "Two
// processes on one machine").
//
// libgomp's idle threads spin at a barrier for GOMP_SPINCOUNT iterations
// (default 300,000, about 10 ms of `pause` instructions) before they sleep.
// Alone that is fast; two taper processes on two cores spin while the other
// process's threads they wait for are descheduled, and each runs at a tenth
// of its solo speed. taper bounds the spinning to kTaperSpinCount
// iterations unless the user chose a policy (any of OMP_WAIT_POLICY,
// GOMP_SPINCOUNT set in the environment is left alone).
//
// libgomp reads its environment once, when the library is loaded, before
// main() runs: setting the variable in main() would change nothing. So the
// program sets it and re-executes itself once (/proc/self/exe, same argv and
// environment, TAPER_WAIT_POLICY=set guards against a loop). If the
// re-exec fails the program just goes on with libgomp's default.
#pragma once

namespace taper::app {

// The spin count taper sets (measured in docs/benchmarks.md).
constexpr const char* kTaperSpinCount = "1000";

// Call first thing in main(). Returns only when no re-exec was needed (or it
// failed); otherwise the process image is replaced.
void apply_wait_policy(char** argv);

}  // namespace taper::app
