#include "apps/progress.h"

#include <cstdio>
#include <string>
#include <unistd.h>

#include "engine/comm.h"

namespace taper::app {

Progress::Progress(int epoch, int epochs, int64_t batches, int64_t first, int64_t images_before)
    : epoch_(epoch), epochs_(epochs), batches_(batches), first_(first), images_before_(images_before),
      tty_(isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()) {}

void Progress::update(int64_t b, double loss, double acc, int64_t images) {
  if (!comm_is_root()) return;  // under mpirun, rank 0 speaks for the job
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double img_s = secs > 0 ? (images - images_before_) / secs : 0.0;
  const int64_t done = b + 1, taken = done - first_;
  const double eta = taken > 0 ? secs / taken * (batches_ - done) : 0.0;
  if (tty_) {
    const int width = 24;
    int filled = static_cast<int>(width * done / batches_);
    std::string bar(filled, '#');
    bar += std::string(width - filled, '.');
    std::fprintf(stderr, "\repoch %d/%d [%s] %lld/%lld loss %.4f acc %.2f%% %.0f img/s ETA %.0fs   ", epoch_,
                 epochs_, bar.c_str(), static_cast<long long>(done), static_cast<long long>(batches_), loss,
                 100.0 * acc, img_s, eta);
    std::fflush(stderr);
  } else if (done * 4 >= next_quarter_ * batches_ && next_quarter_ <= 3) {
    while (done * 4 >= next_quarter_ * batches_) ++next_quarter_;
    std::fprintf(stderr, "epoch %d/%d batch %lld/%lld loss %.4f acc %.2f%% %.0f img/s ETA %.0fs\n", epoch_,
                 epochs_, static_cast<long long>(done), static_cast<long long>(batches_), loss, 100.0 * acc,
                 img_s, eta);
  }
}

void Progress::finish() {
  if (tty_ && comm_is_root()) std::fprintf(stderr, "\r%100s\r", "");
}

}  // namespace taper::app
