#include <catch2/catch.hpp>

#include "layers/linear.h"
#include "support/gradcheck.h"

using namespace taper;
using namespace taper::testing;

TEST_CASE("linear forward matches the reference loop") {
  const int64_t N = 5, IN = 7, OUT = 3;
  Var x(random_tensor({N, IN}, 1)), w(random_tensor({OUT, IN}, 2)), b(random_tensor({OUT}, 3));
  Linear op;
  Tape tape;
  op.forward(x, w, &b, tape);
  Tensor ref({N, OUT});
  linear_forward_ref(x.data.data(), w.data.data(), b.data.data(), ref.data(), N, IN, OUT);
  for (int64_t i = 0; i < ref.numel(); ++i) CHECK(op.out.data[i] == Approx(ref[i]).margin(1e-5));
}

TEST_CASE("linear gradients") {
  Var x(random_tensor({4, 6}, 1)), w(random_tensor({3, 6}, 2)), b(random_tensor({3}, 3));
  Linear op;
  check_gradients([&](Tape& t) -> Var& { return op.forward(x, w, &b, t); }, {&x, &w, &b}, "linear");
  Linear nobias;
  check_gradients([&](Tape& t) -> Var& { return nobias.forward(x, w, nullptr, t); }, {&x, &w},
                  "linear without bias");
}

TEST_CASE("linear rejects mismatched shapes") {
  Var x(Tensor({4, 5})), w(Tensor({3, 6}));
  Linear op;
  Tape tape;
  CHECK_THROWS_WITH(op.forward(x, w, nullptr, tape), Catch::Contains("does not fit weight"));
}
