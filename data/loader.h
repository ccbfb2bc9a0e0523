// BatchLoader — turns a Dataset into float batches, one batch ahead.
//
// An epoch visits every sample once, in batches of B (the last one smaller
// when B does not divide n): in a new order each epoch when shuffling
// (Rng(seed, epoch).shuffle), in data set order otherwise. Each batch is
//   x (B, C, H, W) float, samples transformed by data/transforms.h
//   labels (B)
// A background thread prepares batch k+1 while the caller trains on batch k
// (double buffering: one batch in the loader's slot, one in the caller's
// tensor). The same seed gives the same batches whatever the thread count.
//
//   BatchLoader loader(train_set, options);
//   for (uint64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     while (loader.next(x, labels)) step(x, labels);
//   }
#pragma once

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "engine/tensor.h"

namespace taper {

// Fills x (B, C, H, W) and labels (B) with the samples `indices` of d,
// transformed with the per-sample draws of (seed, epoch). The samples are
// independent: with threads > 1 taper's thread pool splits them (on the
// pool's owner thread; the loader's own prefetch thread fills a batch by
// itself, engine/parallel.h), without changing the result. Throws Error for a label outside [0, d.classes).
void fill_batch(const Dataset& d, const std::vector<int64_t>& indices, const Transform& t,
                uint64_t seed, uint64_t epoch, int threads, Tensor& x,
                std::vector<int64_t>& labels);

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = false;  // training: a new order every epoch
  uint64_t seed = 0;     // shuffle order and augmentation draws
  Transform transform;
  int threads = 1;  // > 1: fill_batch may use the thread pool (see fill_batch)
};

class BatchLoader {
 public:
  // `data` is not copied: it must outlive the loader.
  BatchLoader(const Dataset& data, const LoaderOptions& options);
  ~BatchLoader();  // waits for the batch in preparation, stops the thread
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Starts (or restarts) an epoch: sets its order and begins preparing its
  // first batch. A batch still being prepared for the old epoch is finished
  // and dropped. first_batch > 0 skips the epoch's first batches (a run
  // resumed in the middle of an epoch): the batches after them are exactly
  // those of an uninterrupted epoch, since order and draws depend only on
  // (seed, epoch) and the sample.
  void start_epoch(uint64_t epoch, int64_t first_batch = 0);
  // Copies the next batch of the epoch into x and labels and starts preparing
  // the one after. Returns false when the epoch is over. An exception thrown
  // while preparing the batch is rethrown here (until the next start_epoch).
  bool next(Tensor& x, std::vector<int64_t>& labels);

  int64_t num_batches() const;                                  // ceil(n / B)
  const std::vector<int64_t>& order() const { return order_; }  // this epoch's sample order

 private:
  void worker_loop();
  void prepare(int64_t batch);  // worker: fills the slot with batch `batch`

  const Dataset& data_;
  const LoaderOptions options_;

  // Epoch state: written by the caller only while the worker is idle.
  uint64_t epoch_ = 0;
  std::vector<int64_t> order_;  // (n) sample indices in visiting order
  int64_t next_batch_ = 0;      // the batch next() hands out next
  bool started_ = false;

  // The slot the worker fills: touched by the worker while busy_, by the
  // caller while ready_.
  Tensor slot_x_;                     // (B, C, H, W)
  std::vector<int64_t> slot_labels_;  // (B)

  // Hand-over between caller and worker, all guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable cv_;
  int64_t job_ = -1;    // batch the worker should prepare, -1: none
  bool busy_ = false;   // worker is preparing a batch
  bool ready_ = false;  // slot holds batch next_batch_
  bool stop_ = false;   // destructor: worker exits
  std::exception_ptr error_;
  std::thread worker_;
};

}  // namespace taper
