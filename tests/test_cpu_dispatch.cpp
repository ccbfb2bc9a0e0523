// TAPER_NO_AVX512 forces the portable integer kernels (read at the first
// dispatch, so this binary sets it before anything else dispatches).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "quant/cpu_features.h"
#include "quant/int_conv.h"

using namespace taper;

TEST_CASE("TAPER_NO_AVX512=1 selects the portable kernels, and they equal the reference") {
  setenv("TAPER_NO_AVX512", "1", 1);
  CHECK_FALSE(use_avx512_kernels());
  CHECK(std::string(int_kernel_name()) == "portable");
  force_portable(false);  // the environment still wins
  CHECK_FALSE(use_avx512_kernels());
  Rng rng(31);
  IntConvGeom g{24, 20, 3, 3, 1, 2, 1, 0, 2};
  const int64_t N = 2, H = 9, W = 11;
  std::vector<uint8_t> q(g.OC * (g.IC / g.groups) * 9), x(N * g.IC * H * W);
  for (auto& c : x) c = static_cast<uint8_t>(rng.below(4));
  for (int wbits : {1, 2, 8}) {
    for (auto& c : q) c = static_cast<uint8_t>(rng.below(1u << wbits));
    std::vector<int32_t> ref(N * g.OC * g.out_h(H) * g.out_w(W)), got(ref.size());
    conv_codes_ref(g, q.data(), wbits, x.data(), N, H, W, ref.data());
    for (IntKernel k : {IntKernel::dot, IntKernel::bitplane}) {
      IntConv(g, q.data(), wbits, 2, k).forward(x.data(), N, H, W, got.data());
      CHECK(got == ref);
    }
  }
  // The CPU's features are still reported as detected.
  const CpuFeatures& f = cpu_features();
  INFO("avx512f " << f.avx512f << " bw " << f.avx512bw << " vnni " << f.avx512vnni << " vpopcntdq "
                  << f.avx512vpopcntdq);
  SUCCEED();
}
