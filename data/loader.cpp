#include "data/loader.h"

#include <algorithm>
#include <numeric>

#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/rng.h"

namespace taper {

void fill_batch(const Dataset& d, const std::vector<int64_t>& indices, const Transform& t,
                uint64_t seed, uint64_t epoch, int threads, Tensor& x,
                std::vector<int64_t>& labels) {
  const int64_t B = static_cast<int64_t>(indices.size()), S = d.sample_size();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t i = indices[b];
    check(i >= 0 && i < d.n, d.name, ": sample index ", i, " outside [0, ", d.n, ")");
    check(d.labels[i] >= 0 && d.labels[i] < d.classes, d.name, ": label ", d.labels[i],
          " of sample ", i, " is outside [0, ", d.classes, ")");
  }
  x.resize({B, d.channels, d.height, d.width});
  labels.resize(B);
  const std::vector<float> table = pixel_table(t, d.channels);  // (C, 256)
  float* out = x.data();
  parallel_for(B, threads > 1, [&](int64_t b) {
    const int64_t i = indices[b];
    write_sample(d, i, draw_augment(t, seed, epoch, i), table.data(), out + b * S);
    labels[b] = d.labels[i];
  });
}

BatchLoader::BatchLoader(const Dataset& data, const LoaderOptions& options)
    : data_(data), options_(options) {
  check(options.batch_size >= 1, data.name, ": batch size ", options.batch_size, ", expected >= 1");
  check(options.threads >= 1, data.name, ": loader threads ", options.threads, ", expected >= 1");
  check(static_cast<int64_t>(data.pixels.size()) == data.n * data.sample_size() &&
            static_cast<int64_t>(data.labels.size()) == data.n,
        data.name, ": data set buffers do not match n=", data.n, " (", data.pixels.size(),
        " pixel bytes, ", data.labels.size(), " labels)");
  check_transform(options.transform, data);
  worker_ = std::thread([this] { worker_loop(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

int64_t BatchLoader::num_batches() const {
  return (data_.n + options_.batch_size - 1) / options_.batch_size;
}

void BatchLoader::start_epoch(uint64_t epoch, int64_t first_batch) {
  std::unique_lock<std::mutex> lock(mutex_);
  job_ = -1;  // a request the worker has not picked up yet is dropped
  cv_.wait(lock, [this] { return !busy_; });
  ready_ = false;
  error_ = nullptr;
  epoch_ = epoch;
  order_.resize(data_.n);
  std::iota(order_.begin(), order_.end(), 0);
  if (options_.shuffle) {
    Rng rng(options_.seed, epoch);
    rng.shuffle(order_);
  }
  check(first_batch >= 0 && first_batch <= num_batches(), data_.name, ": cannot start an epoch at batch ",
        first_batch, " of ", num_batches());
  next_batch_ = first_batch;
  started_ = true;
  if (next_batch_ < num_batches()) {
    job_ = next_batch_;
    cv_.notify_all();
  }
}

bool BatchLoader::next(Tensor& x, std::vector<int64_t>& labels) {
  check(started_, data_.name, ": BatchLoader::next called before start_epoch");
  std::unique_lock<std::mutex> lock(mutex_);
  if (error_) std::rethrow_exception(error_);
  if (next_batch_ >= num_batches()) return false;
  cv_.wait(lock, [this] { return ready_ || error_; });
  if (error_) std::rethrow_exception(error_);
  x.copy_from(slot_x_);
  labels = slot_labels_;
  ready_ = false;
  if (++next_batch_ < num_batches()) {
    job_ = next_batch_;
    cv_.notify_all();
  }
  return true;
}

void BatchLoader::prepare(int64_t batch) {
  const int64_t B = options_.batch_size;
  const int64_t begin = batch * B, end = std::min(data_.n, begin + B);
  std::vector<int64_t> indices(order_.begin() + begin, order_.begin() + end);
  fill_batch(data_, indices, options_.transform, options_.seed, epoch_, options_.threads, slot_x_,
             slot_labels_);
}

void BatchLoader::worker_loop() {
  for (;;) {
    int64_t batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stop_ || job_ >= 0; });
      if (stop_) return;
      batch = job_;
      job_ = -1;
      busy_ = true;
    }
    std::exception_ptr error;
    try {
      prepare(batch);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      busy_ = false;
      if (error)
        error_ = error;
      else
        ready_ = true;
    }
    cv_.notify_all();
  }
}

}  // namespace taper
