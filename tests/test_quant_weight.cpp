#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <set>
#include <vector>

#include "engine/error.h"
#include "engine/rng.h"
#include "quant/binarize.h"
#include "quant/kbit.h"
#include "quant/weight_quant.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

// |Wq - T/M| is at most half a level step, 1/(2^k - 1), per bit width k
// (index k), plus float32 round-off in T/(2M) + 1/2.
static constexpr double kMaxRoundingError[kMaxQuantBits + 1] = {
    0, 0, 1.0 / 3, 1.0 / 7, 1.0 / 15, 1.0 / 31, 1.0 / 63, 1.0 / 127, 1.0 / 255};
static constexpr double kRoundoffSlack = 1e-6;
// Hand-computed gradients vs the op: float32 round-off only.
static constexpr double kHandGradTol = 1e-5;

// The 2^k levels 2 j/(2^k - 1) - 1, as the quantizer computes them in float32.
static std::set<float> weight_levels(int k) {
  const float n = float((1 << k) - 1);
  std::set<float> levels;
  for (int j = 0; j <= (1 << k) - 1; ++j) levels.insert(2.0f * (float(j) / n) - 1.0f);
  return levels;
}

static std::pair<int64_t, int64_t> rows_cols(const Tensor& w) {
  return {w.dim(0), w.numel() / w.dim(0)};
}

TEST_CASE("weight quantizer: 2^k levels in [-1, 1], sign(T) at each row's arg-max") {
  // Row 0 sweeps [-2, 2] densely, so it must reach every level; rows 1-2 are random.
  const int64_t cols = 4096;
  Tensor w = random_tensor({3, cols}, 21, -1.0f, 1.0f);
  for (int64_t j = 0; j < cols; ++j) w[j] = -2.0f + 4.0f * float(j) / float(cols - 1);
  for (int k = 2; k <= kMaxQuantBits; ++k) {
    INFO("k = " << k);
    const std::set<float> levels = weight_levels(k);
    REQUIRE(levels.size() == size_t(1) << k);
    Tensor wq({3, cols}), t({3, cols}), m({3});
    std::vector<int64_t> argmax(3);
    weight_quantize(w.data(), wq.data(), 3, cols, k, t.data(), m.data(), argmax.data());
    std::set<float> seen;
    for (int64_t i = 0; i < wq.numel(); ++i) {
      CHECK(levels.count(wq[i]) == 1);
      CHECK(std::fabs(double(wq[i]) - double(t[i]) / m[i / cols]) <= kMaxRoundingError[k] + kRoundoffSlack);
      if (i < cols) seen.insert(wq[i]);
    }
    CHECK(seen == levels);
    for (int64_t i = 0; i < 3; ++i) {
      const int64_t a = argmax[i];
      CHECK(std::fabs(t[i * cols + a]) == m[i]);
      CHECK(wq[i * cols + a] == (w[i * cols + a] > 0 ? 1.0f : -1.0f));
    }
    CHECK(wq[0] == -1.0f);  // row 0 reaches both ends: it is symmetric
    CHECK(wq[cols - 1] == 1.0f);
  }
}

TEST_CASE("weight quantizer: fast matches the reference bit for bit") {
  // Conv (OC, IC, KH, KW), grouped conv (OC, IC/g, KH, KW), linear (OUT, IN);
  // the last two exceed kQuantParallelMin, so the threaded path runs.
  for (const Shape& shape : {Shape{16, 3, 3, 3}, Shape{12, 4, 5, 5}, Shape{10, 37},
                             Shape{64, 64, 3, 3}, Shape{512, 300}}) {
    Tensor w = random_tensor(shape, 7, -2.0f, 2.0f);
    const auto [rows, cols] = rows_cols(w);
    for (int64_t j = 0; j < cols; ++j) w[cols + j] = 0.0f;  // row 1 all zero (M = 0)
    w[2 * cols] = -0.0f;
    w[2 * cols + 1] = 3.0f, w[2 * cols + 2] = -3.0f;  // row 2: a tie for the max |T|
    for (int k = 2; k <= kMaxQuantBits; ++k) {
      INFO(shape_str(shape) << " k = " << k);
      Tensor ref(shape), fast(shape), inplace(shape), t(shape), m({rows});
      std::vector<int64_t> argmax(rows);
      weight_quantize_ref(w.data(), ref.data(), rows, cols, k);
      weight_quantize(w.data(), fast.data(), rows, cols, k, t.data(), m.data(), argmax.data());
      weight_quantize(w.data(), inplace.data(), rows, cols, k);  // no caches: T built in place
      CHECK(std::memcmp(ref.data(), fast.data(), sizeof(float) * w.numel()) == 0);
      CHECK(std::memcmp(ref.data(), inplace.data(), sizeof(float) * w.numel()) == 0);
      CHECK(argmax[2] == 1);  // the first of the tied maxima
    }
  }
}

TEST_CASE("weight quantizer: an all-zero row maps to 1/(2^k-1) and gets zero gradient") {
  for (int k = 2; k <= kMaxQuantBits; ++k) {
    INFO("k = " << k);
    const float n = float((1 << k) - 1);
    // Row 0 is zero (with a -0.0), row 1 is not.
    Var w(Tensor::from({2, 3}, {0.0f, -0.0f, 0.0f, 0.5f, -0.25f, 0.0f}), true);
    WeightQuantizer op(k);
    Tape tape;
    Var& wq = op.forward(w, tape);
    const float zero_value = 2.0f * quantize_k_ref(0.5f, k) - 1.0f;
    CHECK(zero_value == Approx(1.0 / n).margin(kRoundoffSlack));
    for (int j = 0; j < 3; ++j) CHECK(wq.data[j] == zero_value);
    CHECK(wq.data[5] == zero_value);  // a zero weight in a nonzero row: the same value
    tape.backward(wq, Tensor::from({2, 3}, {1.0f, -2.0f, 3.0f, 0.5f, 1.5f, -1.0f}));
    for (int j = 0; j < 3; ++j) CHECK(w.grad[j] == 0.0f);
    for (int j = 3; j < 6; ++j) {
      CHECK(std::isfinite(w.grad[j]));
      CHECK(w.grad[j] != 0.0f);
    }
  }
}

TEST_CASE("weight quantizer backward: the arg-max term goes to the first of tied maxima") {
  // Row [0.5, 0.2, 0.5]: |T| ties at j = 0 and 2, so j* = 0. Hand-derived:
  //   dT_l = g_l / M + [l = 0] sign(T_0) sum_j g_j (-T_j / M^2),  dW = dT (1 - T^2).
  const double g[3] = {1.0, 2.0, 3.0};
  Var w(Tensor::from({1, 3}, {0.5f, 0.2f, 0.5f}), true);
  WeightQuantizer op(3);
  Tape tape;
  Var& wq = op.forward(w, tape);
  tape.backward(wq, Tensor::from({1, 3}, {1.0f, 2.0f, 3.0f}));
  const double T[3] = {std::tanh(0.5f), std::tanh(0.2f), std::tanh(0.5f)};
  const double M = T[0];
  double gt = 0.0;
  for (int j = 0; j < 3; ++j) gt += g[j] * T[j];
  double expect[3];
  for (int j = 0; j < 3; ++j) expect[j] = g[j] / M * (1.0 - T[j] * T[j]);
  expect[0] += -gt / (M * M) * (1.0 - T[0] * T[0]);
  for (int j = 0; j < 3; ++j) CHECK(w.grad[j] == Approx(expect[j]).epsilon(kHandGradTol));
  CHECK(std::fabs(expect[0] - expect[2]) > 0.5);  // the term matters here
}

// The function the weight quantizer's backward differentiates: Wq without the
// rounding, 2u - 1 = T_ij / M_i (computed in double). Its backward is the real
// WeightQuantizer's, so check_gradients holds that backward to central
// differences of the surrogate, arg-max term included.
class WeightSurrogate : public Op {
 public:
  explicit WeightSurrogate(int bits) : quant_(bits) {}
  Var& forward(Var& w, Tape& tape) {
    Tape own;
    quant_.forward(w, own);  // fills the op's caches (T, M, arg-max)
    const auto [rows, cols] = rows_cols(w.data);
    out.data.resize(w.data.shape());
    for (int64_t i = 0; i < rows; ++i) {
      double M = 0.0;
      for (int64_t j = 0; j < cols; ++j) M = std::max(M, std::fabs(std::tanh(double(w.data[i * cols + j]))));
      for (int64_t j = 0; j < cols; ++j)
        out.data[i * cols + j] = static_cast<float>(std::tanh(double(w.data[i * cols + j])) / M);
    }
    record(tape, {&w});
    return out;
  }
  void backward() override {
    quant_.out.grad.copy_from(out.grad);
    quant_.backward();
  }
  const char* type() const override { return "weight_quant_surrogate"; }

 private:
  WeightQuantizer quant_;
};

// Weights in [-0.8, 0.8] plus one element of |W| = 1.2 per row at a random
// place, so a step of +-kGradStep never moves the arg-max (no kink).
static Tensor clear_argmax_weights(const Shape& shape, uint64_t seed) {
  Tensor w = random_tensor(shape, seed, -0.8f, 0.8f);
  const auto [rows, cols] = rows_cols(w);
  Rng rng(seed, 1);
  for (int64_t i = 0; i < rows; ++i)
    w[i * cols + int64_t(rng.below(cols))] = rng.uniform() < 0.5f ? 1.2f : -1.2f;
  return w;
}

TEST_CASE("weight quantizer backward matches the surrogate T/M numerically") {
  for (const Shape& shape : {Shape{4, 2, 3, 3}, Shape{5, 7}})
    for (int k : {2, 8}) {
      Var w(clear_argmax_weights(shape, 31));
      WeightSurrogate op(k);
      check_gradients([&](Tape& t) -> Var& { return op.forward(w, t); }, {&w},
                      "weight_quant k=" + std::to_string(k) + " " + std::string(shape_str(shape)));
    }
}

TEST_CASE("WeightQuantizer op: every bit width, buffers reused, no-grad path") {
  Tensor value = random_tensor({6, 2, 3, 3}, 41, -1.5f, 1.5f);
  const auto [rows, cols] = rows_cols(value);
  for (int bits : {1, 2, 3, 4, 5, 6, 7, 8, 32}) {
    INFO("bits = " << bits);
    Var w(value.clone(), true);
    WeightQuantizer op(bits);
    CHECK(op.bits() == bits);
    CHECK(std::string(op.type()) == "weight_quant");
    Tensor ref(value.shape()), scale({rows});
    if (bits == 1) binarize_ref(value.data(), ref.data(), scale.data(), rows, cols, false);
    else if (bits == 32) ref = value.clone();
    else weight_quantize_ref(value.data(), ref.data(), rows, cols, bits);

    Tape tape;
    Var& wq = op.forward(w, tape);
    CHECK(tape.size() == 1);
    CHECK(wq.data.same_shape(w.data));
    CHECK(std::memcmp(wq.data.data(), ref.data(), sizeof(float) * ref.numel()) == 0);
    const float* buffer = wq.data.data();
    tape.backward(wq, random_tensor(value.shape(), 3));
    CHECK(w.grad.vec().cwiseAbs().maxCoeff() > 0.0f);

    // Second step: the same output buffer, the same values.
    Var& again = op.forward(w, tape);
    CHECK(again.data.data() == buffer);
    tape.clear();
    {
      Tape eval;
      NoGrad no_grad(eval);
      Var& quiet = op.forward(w, eval);
      CHECK(eval.size() == 0);
      CHECK(std::memcmp(quiet.data.data(), ref.data(), sizeof(float) * ref.numel()) == 0);
    }
  }
}

TEST_CASE("WeightQuantizer op: 32 bits shares w's buffer and still passes the gradient") {
  Var w(random_tensor({3, 4}, 5), true);
  WeightQuantizer op(32);
  Tape tape;
  Var& out = op.forward(w, tape);
  CHECK(out.data.data() == w.data.data());
  Tensor g = random_tensor({3, 4}, 6);
  w.grad_buffer().fill(2.0f);
  tape.backward(out, g);
  for (int i = 0; i < 12; ++i) CHECK(w.grad[i] == 2.0f + g[i]);
}

TEST_CASE("WeightQuantizer op: per-tensor scale for 1 bit") {
  Var w(Tensor::from({2, 2}, {1.0f, -1.0f, 0.5f, 0.5f}), true);  // tensor mean |W| = 0.75
  WeightQuantizer op(1, true);
  Tape tape;
  Var& wb = op.forward(w, tape);
  CHECK(op.scale()[0] == 0.75f);
  CHECK(op.scale()[1] == 0.75f);
  CHECK(wb.data[1] == -0.75f);
  CHECK(wb.data[2] == 0.75f);
}

TEST_CASE("WeightQuantizer rejects bad bit widths and shapes") {
  for (int bits : {0, 9, 16, 31, 33, -1}) CHECK_THROWS_AS(WeightQuantizer(bits), Error);
  CHECK_THROWS_WITH(WeightQuantizer(16), Catch::Contains("weight_quant") && Catch::Contains("16"));
  WeightQuantizer op(2);
  Tape tape;
  Var bias(Tensor({8}));
  CHECK_THROWS_WITH(op.forward(bias, tape), Catch::Contains("at least 2 dimensions"));
  Tensor w({2, 3}), wq({2, 3});
  CHECK_THROWS_AS(weight_quantize_ref(w.data(), wq.data(), 2, 3, 1), Error);  // 1 bit: binarize
  CHECK_THROWS_AS(weight_quantize(w.data(), wq.data(), 2, 3, 9), Error);
}

TEST_CASE("evaluation reuses the quantized weights only while they are unchanged") {
  for (int bits : {1, 2, 4}) {
    INFO("bits " << bits);
    Var w(testing::random_tensor({3, 5}, 11));
    WeightQuantizer q(bits);
    Tape tape;
    NoGrad no_grad(tape);
    Tensor first = q.forward(w, tape).data.clone();
    Tensor again = q.forward(w, tape).data.clone();
    CHECK(std::memcmp(first.data(), again.data(), sizeof(float) * first.numel()) == 0);
    // Change one element in place: the next forward must see it.
    w.data[0] = -w.data[0] * 3.0f;
    Tensor changed = q.forward(w, tape).data.clone();
    WeightQuantizer q2(bits);
    Tensor expect = q2.forward(w, tape).data.clone();
    CHECK(std::memcmp(changed.data(), expect.data(), sizeof(float) * expect.numel()) == 0);
    CHECK(std::memcmp(changed.data(), first.data(), sizeof(float) * first.numel()) != 0);
  }
}
