// Runtime CPU dispatch for the integer kernels (quant/int_gemm.h).
//
// The AVX-512 kernels are compiled with function-level target attributes,
// so a portable build (TAPER_NATIVE=OFF, no -march=native) still contains
// them; they run only when cpuid says the CPU has every feature they use:
//   avx512f, avx512bw      512-bit integer ops and byte masks
//   avx512vnni             vpdpbusd (u8 x s8 -> int32 dot products)
//   avx512vpopcntdq        vpopcntq (the 1-bit weight kernel)
// and, for the dot kernel's expansion of packed weight codes to s8
// (quant/dot_weights.h), avx512vbmi (vpermb, vpmultishiftqb) on top of
// them: use_avx512_vbmi(); without it that expansion runs portable loops.
// Otherwise — or when the environment variable TAPER_NO_AVX512 is set to
// anything but "" or "0" at the first call, or after force_portable(true) —
// the portable kernels run (plain loops the compiler vectorizes for
// whatever the build targets). Both give the same integers exactly.
#pragma once

namespace taper {

struct CpuFeatures {
  bool avx512f = false, avx512bw = false, avx512vnni = false, avx512vpopcntdq = false, avx512vbmi = false;
};

// What cpuid reports (detected once).
const CpuFeatures& cpu_features();

// True when the AVX-512 integer kernels will run: the CPU has all four
// features, TAPER_NO_AVX512 was not set, and force_portable(true) is not in
// effect.
bool use_avx512_kernels();
// use_avx512_kernels() and the CPU has avx512vbmi.
bool use_avx512_vbmi();

// Forces the portable kernels (true) or restores detection (false); for
// tests and benchmarks. Not thread-safe against kernels running meanwhile.
void force_portable(bool on);

// "avx512-vnni+vpopcntdq" or "portable": which kernels run now.
const char* int_kernel_name();

}  // namespace taper
