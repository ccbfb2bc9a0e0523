// Training progress on stderr: on a terminal, one line redrawn in place with
// the batch, running loss and accuracy, img/s and the epoch's ETA; otherwise
// (a log file, CI) plain lines at every quarter of the epoch.
#pragma once

#include <chrono>
#include <cstdint>

namespace taper::app {

class Progress {
 public:
  // An epoch resumed in the middle starts at step first (0-based) with
  // images_before images already trained: img/s and the ETA count only the
  // steps taken since.
  Progress(int epoch, int epochs, int64_t batches, int64_t first = 0, int64_t images_before = 0);
  // After batch b (0-based) with the running mean loss and accuracy so far
  // and the images of the epoch so far (those before a resume included).
  void update(int64_t b, double loss, double acc, int64_t images);
  // Clears the in-place line (a terminal) before the epoch summary prints.
  void finish();

 private:
  int epoch_, epochs_;
  int64_t batches_, first_, images_before_;
  bool tty_;
  int next_quarter_ = 1;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace taper::app
