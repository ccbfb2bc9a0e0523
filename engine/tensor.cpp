#include "engine/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <map>
#include <sstream>

#include "engine/error.h"
#include "engine/parallel.h"

namespace taper {

// A pool of freed buffers. A training step allocates the same sizes every
// step (activations, gradients, workspaces), so after the first step every
// allocation is served from here: no malloc, no page faults, no zeroed pages
// from the kernel. A request takes the smallest free buffer that holds it and
// is at most twice its size (a buffer freed by a 28x28 layer can hold a
// 14x14 layer's output), so memory freed early in a step serves later layers.
// At most kPoolDepth buffers per size are kept; more are freed.
//
// The pool's own bookkeeping does not allocate once warm either: the map
// nodes of taken buffers are kept (C++17 node handles) and reused when a
// buffer comes back, and the shared_ptr control blocks of Tensor::Buffer come
// from a free list of blocks (BlockAllocator below).
namespace {

constexpr size_t kPoolDepth = 16;
constexpr size_t kReserve = 4096;  // bookkeeping slots reserved up front

using FreeMap = std::multimap<size_t, float*>;  // capacity in bytes -> buffer

struct BufferPool {
  std::mutex mutex;
  FreeMap free;
  std::vector<FreeMap::node_type> spare_nodes;  // emptied nodes, for reuse
  BufferPool() { spare_nodes.reserve(kReserve); }
};

BufferPool& pool() {
  static BufferPool* p = new BufferPool;  // never destroyed: buffers may die during exit
  return *p;
}

// Returns a buffer of at least `bytes`, and its real capacity in `got`.
float* pool_take(size_t bytes, size_t& got) {
  {
    BufferPool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    auto it = p.free.lower_bound(bytes);
    if (it != p.free.end() && it->first <= 2 * bytes) {
      FreeMap::node_type node = p.free.extract(it);
      float* ptr = node.mapped();
      got = node.key();
      p.spare_nodes.push_back(std::move(node));
      return ptr;
    }
  }
  auto* ptr = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!ptr) throw std::bad_alloc();
  got = bytes;
  return ptr;
}

void pool_give(float* ptr, size_t bytes) {
  BufferPool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  if (p.free.count(bytes) >= kPoolDepth) {
    std::free(ptr);
    return;
  }
  if (p.spare_nodes.empty()) {
    p.free.emplace(bytes, ptr);
    return;
  }
  FreeMap::node_type node = std::move(p.spare_nodes.back());
  p.spare_nodes.pop_back();
  node.key() = bytes;
  node.mapped() = ptr;
  p.free.insert(std::move(node));
}

// Fixed-size blocks for shared_ptr control blocks: a freed block goes on a
// free list and serves the next Buffer. Only one block size is ever asked for
// (the control block of Tensor::Buffer); another size goes to operator new.
struct BlockList {
  std::mutex mutex;
  size_t block_bytes = 0;
  std::vector<void*> free;
  BlockList() { free.reserve(kReserve); }
};

BlockList& blocks() {
  static BlockList* b = new BlockList;  // never destroyed, as the pool
  return *b;
}

void* block_take(size_t bytes) {
  BlockList& b = blocks();
  {
    std::lock_guard<std::mutex> lock(b.mutex);
    if (b.block_bytes == 0) b.block_bytes = bytes;
    if (bytes == b.block_bytes && !b.free.empty()) {
      void* p = b.free.back();
      b.free.pop_back();
      return p;
    }
  }
  return ::operator new(bytes);
}

void block_give(void* p, size_t bytes) {
  BlockList& b = blocks();
  {
    std::lock_guard<std::mutex> lock(b.mutex);
    if (bytes == b.block_bytes) {
      b.free.push_back(p);
      return;
    }
  }
  ::operator delete(p);
}

template <typename T>
struct BlockAllocator {
  using value_type = T;
  BlockAllocator() = default;
  template <typename U>
  BlockAllocator(const BlockAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(block_take(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { block_give(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const BlockAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const BlockAllocator<U>&) const { return false; }
};

}  // namespace

// A 64-byte aligned block of floats, from the pool and back to it when the
// last Tensor drops it.
struct Tensor::Buffer {
  float* ptr = nullptr;
  int64_t capacity = 0;  // in floats
  size_t bytes = 0;
  explicit Buffer(int64_t n) {
    size_t want = static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float);
    ptr = pool_take((want + 63) / 64 * 64, bytes);
    capacity = static_cast<int64_t>(bytes / sizeof(float));
  }
  ~Buffer() { pool_give(ptr, bytes); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

void Shape::too_many_dims(int64_t n) {
  fail("a shape has at most ", kMaxDims, " dimensions, this one would have ", n);
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail("negative dimension in shape ", shape_str(shape));
    n *= d;
  }
  return n;
}

std::ostream& operator<<(std::ostream& os, const ShapeText& text) {
  os << "(";
  for (size_t i = 0; i < text.shape.size(); ++i) os << (i ? ", " : "") << text.shape[i];
  return os << ")";
}

ShapeText::operator std::string() const {
  std::ostringstream os;
  os << *this;
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
    buffer_ = std::allocate_shared<Buffer>(BlockAllocator<Buffer>(), n);
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

// In slices on all threads when large: a gradient buffer is zero-filled by
// its first backward (Var::grad_buffer) and then added into by a parallel
// loop over the same slices, so a serial fill would be the one part of such
// a backward that does not scale, and would leave the data in one core's cache.
void Tensor::fill(float value) {
  float* d = data_;
  parallel_for_range(numel_, numel_ >= kMinParallelWork,
                     [&](int64_t begin, int64_t end) { std::fill(d + begin, d + end, value); });
}

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
