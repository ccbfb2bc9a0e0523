// Tensor — a float32 N-d array, contiguous row-major (NCHW for images).
//
// Storage is 64-byte aligned and reference counted: copying a Tensor shares
// the buffer (like PyTorch); clone() copies it. resize() keeps the buffer when
// it is large enough, so a layer that resizes its output every step allocates
// only on the first one. Math goes through Eigen Map views over the buffer.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "engine/shape.h"

namespace taper {

int64_t shape_numel(const Shape& shape);
// shape_str(s) prints as "(2, 3, 4)". It holds the shape by value and formats
// only when streamed or converted to a std::string, so the usual
// check(cond, "...", shape_str(s)) in a layer's forward costs no allocation
// unless the check fails.
struct ShapeText {
  Shape shape;
  operator std::string() const;
};
std::ostream& operator<<(std::ostream& os, const ShapeText& text);
inline ShapeText shape_str(const Shape& shape) { return ShapeText{shape}; }

// Eigen views. Row-major matches our memory layout: mat(p, r, c) is the
// r x c matrix stored row after row at p.
using MatrixRM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatMap = Eigen::Map<MatrixRM>;
using ConstMatMap = Eigen::Map<const MatrixRM>;
using VecMap = Eigen::Map<Eigen::VectorXf>;
using ConstVecMap = Eigen::Map<const Eigen::VectorXf>;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(const Shape& shape);  // zero-filled

  static Tensor zeros(const Shape& shape) { return Tensor(shape); }
  static Tensor full(const Shape& shape, float value);
  static Tensor from(const Shape& shape, const std::vector<float>& values);

  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return numel_; }
  bool empty() const { return numel_ == 0; }
  bool same_shape(const Tensor& other) const { return shape_ == other.shape_; }

  float* data() { return data_; }
  const float* data() const { return data_; }
  float& operator[](int64_t i) { return data_[i]; }
  float operator[](int64_t i) const { return data_[i]; }

  // Changes the shape; keeps the buffer if it is large enough, otherwise
  // allocates a new one. Contents are unspecified afterwards (use zero()).
  void resize(const Shape& shape);
  // Drops the buffer (back to the pool) but keeps the shape: a model frees
  // an activation that no backward reads this way; the shape still sizes its
  // gradient, and the next resize() allocates again. data() is null after.
  void release();
  // A tensor with another shape of the same numel, sharing this buffer.
  Tensor reshaped(const Shape& shape) const;
  Tensor clone() const;

  void fill(float value);
  void zero() { fill(0.0f); }
  void copy_from(const Tensor& src);  // resizes to src's shape and copies

  VecMap vec() { return VecMap(data_, numel_); }
  ConstVecMap vec() const { return ConstVecMap(data_, numel_); }
  // View as rows x cols, rows = dim(0), cols = numel / rows.
  MatMap mat();
  ConstMatMap mat() const;

 private:
  struct Buffer;
  std::shared_ptr<Buffer> buffer_;
  float* data_ = nullptr;
  Shape shape_;
  int64_t numel_ = 0;
};

}  // namespace taper
