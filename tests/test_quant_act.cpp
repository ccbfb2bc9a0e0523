#include <catch2/catch.hpp>
#include <cstring>
#include <set>
#include <vector>

#include "engine/error.h"
#include "quant/act_quant.h"
#include "quant/kbit.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

TEST_CASE("act quantizer: values and STE mask at and around the clamp edges") {
  const float s[5] = {-0.1f, 0.0f, 0.5f, 1.0f, 1.1f};
  const bool pass[5] = {false, true, true, true, false};
  // aq for k = 1, 2, 4: clamp, then Q_k (1/2 is a tie that rounds to even).
  const float aq[3][5] = {{0.0f, 0.0f, 0.0f, 1.0f, 1.0f},
                          {0.0f, 0.0f, 2.0f / 3.0f, 1.0f, 1.0f},
                          {0.0f, 0.0f, 8.0f / 15.0f, 1.0f, 1.0f}};
  const int bits[3] = {1, 2, 4};
  for (int b = 0; b < 3; ++b)
    for (int i = 0; i < 5; ++i) {
      INFO("k = " << bits[b] << ", s = " << s[i]);
      bool p = !pass[i];
      CHECK(act_quantize_ref(s[i], bits[b], &p) == aq[b][i]);
      CHECK(p == pass[i]);
    }
  CHECK(act_quantize_ref(-5.0f, 8, nullptr) == 0.0f);
  CHECK(act_quantize_ref(7.0f, 8, nullptr) == 1.0f);
}

TEST_CASE("act quantizer: 2^k levels over a sweep across [-0.5, 1.5]") {
  for (int k = 1; k <= kMaxQuantBits; ++k) {
    INFO("k = " << k);
    const float n = float((1 << k) - 1);
    std::set<float> levels;
    for (int i = 0; i <= 40000; ++i) levels.insert(act_quantize_ref(-0.5f + i / 20000.0f, k, nullptr));
    REQUIRE(levels.size() == size_t(1) << k);
    int j = 0;
    for (float q : levels) CHECK(q == float(j++) / n);
  }
}

TEST_CASE("act quantizer: fast matches the reference bit for bit, mask included") {
  // 200000 > kQuantParallelMin: the threaded path; 1001 runs on one thread.
  for (int64_t n : {int64_t(1001), int64_t(200000)}) {
    Tensor s = random_tensor({n}, 5, -0.5f, 1.5f);
    s[0] = 0.0f, s[1] = 1.0f, s[2] = -0.0f, s[3] = 0.5f;
    for (int k = 1; k <= kMaxQuantBits; ++k) {
      INFO("n = " << n << ", k = " << k);
      std::vector<float> ref(n), fast(n);
      std::vector<uint8_t> ref_pass(n), fast_pass(n);
      for (int64_t i = 0; i < n; ++i) {
        bool p;
        ref[i] = act_quantize_ref(s[i], k, &p);
        ref_pass[i] = p;
      }
      act_quantize(s.data(), fast.data(), fast_pass.data(), n, k);
      CHECK(std::memcmp(ref.data(), fast.data(), sizeof(float) * n) == 0);
      CHECK(ref_pass == fast_pass);
    }
  }
}

TEST_CASE("ActQuant op: forward, and backward passes g where 0 <= x <= 1") {
  const std::vector<float> x_values = {-0.1f, 0.0f, 0.5f, 1.0f, 1.1f, 0.3f, -2.0f, 0.9f};
  const std::vector<float> mask = {0, 1, 1, 1, 0, 1, 0, 1};
  Var x(Tensor::from({2, 4}, x_values), true);
  ActQuant op(2);
  CHECK(op.bits() == 2);
  CHECK(std::string(op.type()) == "act_quant");
  Tape tape;
  Var& y = op.forward(x, tape);
  for (int i = 0; i < 8; ++i) CHECK(y.data[i] == act_quantize_ref(x_values[i], 2, nullptr));
  Tensor g = random_tensor({2, 4}, 3);
  x.grad_buffer().fill(1.0f);  // backward adds to what is there
  tape.backward(y, g);
  for (int i = 0; i < 8; ++i) {
    INFO("x = " << x_values[i]);
    CHECK(x.grad[i] == 1.0f + g[i] * mask[i]);
  }

  // Without a recording tape: same output, nothing recorded.
  Tape eval;
  NoGrad no_grad(eval);
  ActQuant op2(2);
  op2.forward(x, eval);
  CHECK(eval.size() == 0);
  CHECK(std::memcmp(op2.out.data.data(), y.data.data(), sizeof(float) * 8) == 0);
}

TEST_CASE("ActQuant rejects bit widths outside 1..8") {
  for (int bits : {0, 9, 16, 32, -2}) CHECK_THROWS_AS(ActQuant(bits), Error);
  CHECK_THROWS_WITH(ActQuant(32), Catch::Contains("act_quant") && Catch::Contains("ReLU"));
}
