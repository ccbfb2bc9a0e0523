#include "engine/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <sstream>

#include "engine/error.h"

namespace taper {

// A pool of freed buffers, by byte size. A training step allocates the same
// sizes every step (activations, gradients, workspaces), so after the first
// step every allocation is served from here: no malloc, no page faults, no
// zeroed pages from the kernel. At most kPoolDepth buffers per size are kept.
namespace {

constexpr size_t kPoolDepth = 16;

struct BufferPool {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<float*>> free;
};

BufferPool& pool() {
  static BufferPool* p = new BufferPool;  // never destroyed: buffers may die during exit
  return *p;
}

float* pool_take(size_t bytes) {
  {
    BufferPool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    auto it = p.free.find(bytes);
    if (it != p.free.end() && !it->second.empty()) {
      float* ptr = it->second.back();
      it->second.pop_back();
      return ptr;
    }
  }
  auto* ptr = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!ptr) throw std::bad_alloc();
  return ptr;
}

void pool_give(float* ptr, size_t bytes) {
  BufferPool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  auto& list = p.free[bytes];
  if (list.size() < kPoolDepth) {
    list.push_back(ptr);
    return;
  }
  std::free(ptr);
}

}  // namespace

// A 64-byte aligned block of floats, from the pool and back to it when the
// last Tensor drops it.
struct Tensor::Buffer {
  float* ptr = nullptr;
  int64_t capacity = 0;  // in floats
  size_t bytes = 0;
  explicit Buffer(int64_t n) : capacity(n) {
    bytes = static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    ptr = pool_take(bytes);
  }
  ~Buffer() { pool_give(ptr, bytes); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail("negative dimension in shape ", shape_str(shape));
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ")";
  return os.str();
}

Tensor::Tensor(const Shape& shape) {
  resize(shape);
  zero();
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t;
  t.resize(shape);
  t.fill(value);
  return t;
}

Tensor Tensor::from(const Shape& shape, const std::vector<float>& values) {
  Tensor t;
  t.resize(shape);
  check(static_cast<int64_t>(values.size()) == t.numel(), "Tensor::from: ", values.size(),
        " values for shape ", shape_str(shape));
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

int64_t Tensor::dim(int i) const {
  int n = ndim();
  if (i < 0) i += n;
  if (i < 0 || i >= n) fail("dimension ", i, " out of range for shape ", shape_str(shape_));
  return shape_[i];
}

void Tensor::resize(const Shape& shape) {
  int64_t n = shape_numel(shape);
  if (!buffer_ || buffer_->capacity < n) {
    buffer_ = std::make_shared<Buffer>(n);
  }
  data_ = buffer_->ptr;
  shape_ = shape;
  numel_ = n;
}

void Tensor::release() {
  buffer_.reset();
  data_ = nullptr;
}

Tensor Tensor::reshaped(const Shape& shape) const {
  check(shape_numel(shape) == numel_, "cannot reshape ", shape_str(shape_), " to ",
        shape_str(shape));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t;
  t.copy_from(*this);
  return t;
}

void Tensor::fill(float value) { std::fill(data_, data_ + numel_, value); }

void Tensor::copy_from(const Tensor& src) {
  if (src.data_ == data_ && src.shape_ == shape_) return;
  resize(src.shape_);
  if (numel_) std::memcpy(data_, src.data_, sizeof(float) * numel_);
}

MatMap Tensor::mat() {
  int64_t rows = ndim() ? shape_[0] : 1;
  return MatMap(data_, rows, rows ? numel_ / rows : 0);
}

ConstMatMap Tensor::mat() const {
  int64_t rows = ndim() ? shape_[0] : 1;
  return ConstMatMap(data_, rows, rows ? numel_ / rows : 0);
}

}  // namespace taper
