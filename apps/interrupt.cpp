#include "apps/interrupt.h"

#include <unistd.h>

#include <csignal>
#include <cstdint>

#include "engine/comm.h"

namespace taper::app {

namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_stop_signal(int sig) {
  if (g_signal != 0 && sig == SIGINT) {  // the second Ctrl-C: quit now
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  g_signal = sig;
  // Only async-signal-safe calls here: write(2), not printf.
  static const char msg[] =
      "\ntaper train: stopping after this step and writing a checkpoint (Ctrl-C again to quit at once)\n";
  ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART needed: the training loop polls the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGXFSZ, SIG_IGN);
}

int stop_requested() {
  int64_t sig = g_signal;
  if (comm_size() > 1) {
    // Every rank must stop after the same step, or the others would wait in
    // the next all-reduce forever: any rank's signal stops all of them (a
    // rank that saw none reports SIGTERM).
    int64_t seen[1] = {sig};
    allreduce_sum(seen, 1);  // > 0 when any rank saw one
    if (seen[0] > 0 && sig == 0) sig = SIGTERM;
  }
  return static_cast<int>(sig);
}

}  // namespace taper::app
