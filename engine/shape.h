// Shape — the dimensions of a tensor, stored inline (no heap).
//
// A tensor's shape is copied whenever a tensor is: a layer caching its input,
// a gradient taking its value's shape, a reshape. With a std::vector each of
// those copies was a heap allocation inside the training step; this class
// keeps up to kMaxDims dimensions in place, so shapes cost nothing to copy.
// It reads like a std::vector<int64_t> (size, [], begin/end, push_back,
// insert at the end, ==) and converts to and from one where files and JSON
// need it. More than kMaxDims dimensions is an Error, not a crash.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace taper {

class Shape {
 public:
  static constexpr int kMaxDims = 8;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(const std::vector<int64_t>& dims) { assign(dims.begin(), dims.end()); }
  template <typename It>
  Shape(It first, It last) {
    assign(first, last);
  }

  size_t size() const { return static_cast<size_t>(n_); }
  bool empty() const { return n_ == 0; }
  int64_t& operator[](size_t i) { return d_[i]; }
  int64_t operator[](size_t i) const { return d_[i]; }
  int64_t back() const { return d_[n_ - 1]; }
  int64_t front() const { return d_[0]; }
  int64_t* begin() { return d_; }
  int64_t* end() { return d_ + n_; }
  const int64_t* begin() const { return d_; }
  const int64_t* end() const { return d_ + n_; }

  void clear() { n_ = 0; }
  void push_back(int64_t d) {
    grow_check(n_ + 1);
    d_[n_++] = d;
  }
  void pop_back() { --n_; }
  void resize(size_t n, int64_t value = 0) {
    grow_check(static_cast<int64_t>(n));
    for (size_t i = static_cast<size_t>(n_); i < n; ++i) d_[i] = value;
    n_ = static_cast<int>(n);
  }
  // Appends [first, last) at the end (the only insert position shapes need).
  template <typename It>
  void append(It first, It last) {
    for (; first != last; ++first) push_back(static_cast<int64_t>(*first));
  }

  std::vector<int64_t> to_vector() const { return std::vector<int64_t>(begin(), end()); }

  friend bool operator==(const Shape& a, const Shape& b) {
    return a.n_ == b.n_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

 private:
  template <typename It>
  void assign(It first, It last) {
    n_ = 0;
    append(first, last);
  }
  static void grow_check(int64_t n) {
    if (n > kMaxDims) too_many_dims(n);
  }
  [[noreturn]] static void too_many_dims(int64_t n);

  int64_t d_[kMaxDims] = {};
  int n_ = 0;
};

// The output length of a sliding window (a convolution or pooling window)
// along one axis, the one home of this formula:
//   out = floor((in + 2 pad - kernel) / stride) + 1
// Returns 0 when the window does not fit (in + 2 pad < kernel) or in < 1;
// callers turn that into their own error. stride must be >= 1.
inline int64_t window_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  const int64_t span = in + 2 * pad - kernel;
  if (in < 1 || span < 0) return 0;
  return span / stride + 1;
}

}  // namespace taper
