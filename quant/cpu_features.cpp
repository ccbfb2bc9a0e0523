#include "quant/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace taper {

namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
  f.avx512vpopcntdq = __builtin_cpu_supports("avx512vpopcntdq");
  f.avx512vbmi = __builtin_cpu_supports("avx512vbmi");
#endif
  return f;
}

bool env_disables() {
  const char* v = std::getenv("TAPER_NO_AVX512");
  return v && *v && std::strcmp(v, "0") != 0;
}

bool& forced() {
  static bool on = env_disables();
  return on;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool use_avx512_kernels() {
  const CpuFeatures& f = cpu_features();
  return !forced() && f.avx512f && f.avx512bw && f.avx512vnni && f.avx512vpopcntdq;
}

bool use_avx512_vbmi() { return use_avx512_kernels() && cpu_features().avx512vbmi; }

void force_portable(bool on) { forced() = on || env_disables(); }

const char* int_kernel_name() { return use_avx512_kernels() ? "avx512-vnni+vpopcntdq" : "portable"; }

}  // namespace taper
