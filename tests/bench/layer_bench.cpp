// taper_layer_bench — layer speed at training batch size (not a test).
//
//   taper_layer_bench [--threads N] [--reps R] [--batch B] [--packed [--only NAME]]
//                     [--cpu-time]
//
// For every distinct conv shape of the two reference models of the PyTorch
// peer script (torch_anchor.py, kept outside this repository; vgg7-fmnist,
// resnet20) it times the
// forward, backward-data and backward-weight passes and prints GFLOP/s,
// counting 2*N*OC*OH*OW*(IC/groups)*KH*KW FLOPs per pass. Each time is the
// median of R repetitions after two warm-up runs. Per model it prints the
// FLOP-weighted total of each pass (all of the model's conv FLOPs, repeated
// shapes counted as often as they occur, over their total time), and, as
// the yardstick, Eigen's SGEMM rate on 1024x1024x1024.
//
// --packed: instead, the integer conv kernels on codes (quant/int_conv.h)
// against the float forward of the same shape: per shape, the float
// forward and each packed variant are timed in alternating rounds (one
// call each per round, R rounds after two warm-up rounds), and the table
// gives the medians, GOP/s (2 ops per multiply-add, as for float) and the
// speed-up over the float forward. A packed call goes from NCHW u8 codes to
// the int32 accumulators (N, OC, OH, OW): im2col / bit planes included,
// thresholds not (quant/thresholds.h, a separate pass). --only NAME keeps
// the shapes whose model or layer name contains NAME (e.g. conv4).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "engine/gemm.h"
#include "engine/parallel.h"
#include "engine/rng.h"
#include "layers/conv2d.h"
#include "quant/cpu_features.h"
#include "quant/int_conv.h"

using namespace taper;

namespace {

struct Shape2d {
  const char* model;
  const char* name;
  Conv2dParams p;
  int64_t H, W;
  int count;  // how often the shape occurs in the model
};

// The conv layers of torch_anchor.py, one row per distinct shape.
const Shape2d kShapes[] = {
    {"vgg7-fmnist", "conv1 (first)", {1, 64, 3, 3, 1, 1, 1, 1, 1}, 28, 28, 1},
    {"vgg7-fmnist", "conv2", {64, 64, 3, 3, 1, 1, 1, 1, 1}, 28, 28, 1},
    {"vgg7-fmnist", "conv3", {64, 128, 3, 3, 1, 1, 1, 1, 1}, 14, 14, 1},
    {"vgg7-fmnist", "conv4", {128, 128, 3, 3, 1, 1, 1, 1, 1}, 14, 14, 1},
    {"vgg7-fmnist", "conv5", {128, 256, 3, 3, 1, 1, 1, 1, 1}, 7, 7, 1},
    {"vgg7-fmnist", "conv6", {256, 256, 3, 3, 1, 1, 1, 1, 1}, 7, 7, 1},
    {"resnet20", "stem (first)", {3, 16, 3, 3, 1, 1, 1, 1, 1}, 32, 32, 1},
    {"resnet20", "s1 3x3", {16, 16, 3, 3, 1, 1, 1, 1, 1}, 32, 32, 6},
    {"resnet20", "s2 3x3/2", {16, 32, 3, 3, 2, 2, 1, 1, 1}, 32, 32, 1},
    {"resnet20", "s2 3x3", {32, 32, 3, 3, 1, 1, 1, 1, 1}, 16, 16, 5},
    {"resnet20", "s2 1x1/2 proj", {16, 32, 1, 1, 2, 2, 0, 0, 1}, 32, 32, 1},
    {"resnet20", "s3 3x3/2", {32, 64, 3, 3, 2, 2, 1, 1, 1}, 16, 16, 1},
    {"resnet20", "s3 3x3", {64, 64, 3, 3, 1, 1, 1, 1, 1}, 8, 8, 5},
    {"resnet20", "s3 1x1/2 proj", {32, 64, 1, 1, 2, 2, 0, 0, 1}, 16, 16, 1},
};

// Wall-clock seconds, or with --cpu-time the process's CPU seconds (all
// threads): on a machine shared with other jobs, a one-thread run's CPU time
// is what the kernel costs, while its wall time also counts the time slices
// other processes got. (With several threads, the pool's waiting threads' polling is
// counted too.)
bool g_cpu_time = false;

double now_seconds() {
  if (!g_cpu_time) return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

double seconds_since(double t0) {
  return now_seconds() - t0;
}

// Median time of `reps` calls of f after two warm-up calls.
template <typename F>
double median_seconds(int reps, F&& f) {
  f();
  f();
  std::vector<double> t(reps);
  for (double& s : t) {
    double t0 = now_seconds();
    f();
    s = seconds_since(t0);
  }
  std::sort(t.begin(), t.end());
  return t[reps / 2];
}

Tensor random_tensor(const taper::Shape& shape, uint64_t seed) {
  Tensor t(shape);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform(-1.0f, 1.0f);
  return t;
}

struct Timing {
  double flops, fwd, bwd_data, bwd_weight;  // FLOPs of one pass, seconds per pass
};

Timing time_conv(const Shape2d& s, int64_t N, int reps) {
  const Conv2dParams& p = s.p;
  const int64_t OH = conv_out_size(s.H, p.kernel_h, p.stride_h, p.pad_h);
  const int64_t OW = conv_out_size(s.W, p.kernel_w, p.stride_w, p.pad_w);
  Var x(random_tensor({N, p.in_channels, s.H, s.W}, 1));
  Var w(random_tensor({p.out_channels, p.in_channels / p.groups, p.kernel_h, p.kernel_w}, 2));
  Conv2d op(p);
  Timing t;
  t.flops = 2.0 * N * p.out_channels * OH * OW * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w;
  Tape tape;
  {
    NoGrad no_grad(tape);
    t.fwd = median_seconds(reps, [&] { op.forward(x, w, nullptr, tape); });
  }
  // Backward passes: one recorded forward, then backward() repeatedly with a
  // fixed dy; which gradients it computes follows requires_grad.
  auto time_backward = [&](bool dx, bool dw) {
    x.requires_grad = dx;
    w.requires_grad = dw;
    Var& y = op.forward(x, w, nullptr, tape);
    tape.clear();
    y.grad = random_tensor(y.data.shape(), 3);
    return median_seconds(reps, [&] { op.backward(); });
  };
  t.bwd_data = time_backward(true, false);
  t.bwd_weight = time_backward(false, true);
  return t;
}

double gemm_gflops(int reps) {
  const int64_t n = 1024;
  Tensor a = random_tensor({n, n}, 4), b = random_tensor({n, n}, 5), c({n, n});
  double s = median_seconds(reps, [&] {
    sgemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  });
  return 2.0 * n * n * n / s / 1e9;
}

// The packed variants timed by --packed: weight bits, activation bits, kernel.
struct PackedVariant {
  const char* label;
  int wbits, abits;
  IntKernel kernel;
};
const PackedVariant kPacked[] = {
    {"w1a2 bitplane", 1, 2, IntKernel::bitplane},
    {"w1a2 dot", 1, 2, IntKernel::dot},
    {"w2a2 bitplane", 2, 2, IntKernel::bitplane},
    {"w2a2 dot", 2, 2, IntKernel::dot},
    {"w4a2 dot", 4, 2, IntKernel::dot},
    {"w8a8 dot", 8, 8, IntKernel::dot},
};
constexpr int kNumPacked = sizeof(kPacked) / sizeof(kPacked[0]);

std::vector<uint8_t> random_codes(int64_t n, int bits, uint64_t seed) {
  std::vector<uint8_t> c(n);
  Rng rng(seed);
  for (auto& v : c) v = static_cast<uint8_t>(rng.below(uint64_t(1) << bits));
  return c;
}

void bench_packed(int64_t N, int reps, const char* only) {
  std::printf("packed conv kernels (%s), batch %ld, %d threads, median of %d alternating rounds, %s time\n",
              int_kernel_name(), static_cast<long>(N), num_threads(), reps, g_cpu_time ? "CPU" : "wall");
  std::printf("%-12s %-14s %-22s %9s %9s |", "model", "layer", "IC->OC HxW k/s", "fp32 ms", "GFLOP/s");
  for (const PackedVariant& v : kPacked) std::printf(" %-13s", v.label);
  std::printf("\n%-12s %-14s %-22s %9s %9s |", "", "", "", "", "");
  for (int i = 0; i < kNumPacked; ++i) std::printf(" %-13s", "GOP/s  x");
  std::printf("\n");
  for (const Shape2d& s : kShapes) {
    if (only && !std::strstr(s.model, only) && !std::strstr(s.name, only)) continue;
    const Conv2dParams& p = s.p;
    const int64_t OH = conv_out_size(s.H, p.kernel_h, p.stride_h, p.pad_h);
    const int64_t OW = conv_out_size(s.W, p.kernel_w, p.stride_w, p.pad_w);
    const int64_t nw = p.out_channels * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w;
    const double ops = 2.0 * N * p.out_channels * OH * OW * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w;
    Var x(random_tensor({N, p.in_channels, s.H, s.W}, 1));
    Var w(random_tensor({p.out_channels, p.in_channels / p.groups, p.kernel_h, p.kernel_w}, 2));
    Conv2d op(p);
    Tape tape;
    NoGrad no_grad(tape);
    const IntConvGeom g{p.in_channels, p.out_channels, p.kernel_h, p.kernel_w, p.stride_h, p.stride_w,
                        p.pad_h, p.pad_w, p.groups};
    std::vector<IntConv> convs;
    std::vector<std::vector<uint8_t>> xs;
    for (const PackedVariant& v : kPacked) {
      std::vector<uint8_t> q = random_codes(nw, v.wbits, 3);
      convs.emplace_back(g, q.data(), v.wbits, v.abits, v.kernel);
      xs.push_back(random_codes(N * p.in_channels * s.H * s.W, v.abits, 4));
    }
    std::vector<int32_t> A(N * p.out_channels * OH * OW);
    std::vector<std::vector<double>> t(kNumPacked + 1);
    for (int round = -2; round < reps; ++round) {
      double t0 = now_seconds();
      op.forward(x, w, nullptr, tape);
      if (round >= 0) t[0].push_back(seconds_since(t0));
      for (int i = 0; i < kNumPacked; ++i) {
        t0 = now_seconds();
        convs[i].forward(xs[i].data(), N, s.H, s.W, A.data());
        if (round >= 0) t[i + 1].push_back(seconds_since(t0));
      }
    }
    for (auto& v : t) std::sort(v.begin(), v.end());
    const double fp = t[0][reps / 2];
    char shape[64];
    std::snprintf(shape, sizeof shape, "%ld->%ld %ldx%ld k%ld/%ld", long(p.in_channels), long(p.out_channels),
                  long(s.H), long(s.W), long(p.kernel_h), long(p.stride_h));
    std::printf("%-12s %-14s %-22s %9.2f %9.1f |", s.model, s.name, shape, fp * 1e3, ops / fp / 1e9);
    for (int i = 0; i < kNumPacked; ++i) {
      const double ti = t[i + 1][reps / 2];
      std::printf(" %6.0f %5.2f ", ops / ti / 1e9, fp / ti);
    }
    std::printf("\n");
  }
}

void usage() {
  std::fprintf(stderr, "usage: taper_layer_bench [--threads N] [--reps R] [--batch B] [--packed [--only NAME]] [--cpu-time]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 7;
  int64_t batch = 128;
  bool packed = false;
  const char* only = nullptr;
  for (int i = 1; i < argc; ++i) {
    auto value = [&]() -> long {
      if (i + 1 >= argc) usage();
      char* end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (*end || v < 1) usage();
      return v;
    };
    if (!std::strcmp(argv[i], "--threads")) threads = static_cast<int>(value());
    else if (!std::strcmp(argv[i], "--reps")) reps = static_cast<int>(value());
    else if (!std::strcmp(argv[i], "--batch")) batch = value();
    else if (!std::strcmp(argv[i], "--packed")) packed = true;
    else if (!std::strcmp(argv[i], "--cpu-time")) g_cpu_time = true;
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else usage();
  }
  set_num_threads(threads);
  if (packed) {
    bench_packed(batch, reps, only);
    return 0;
  }
  std::printf("conv layers, batch %ld, %d threads, median of %d; GFLOP/s per pass\n",
              static_cast<long>(batch), threads, reps);
  std::printf("%-12s %-14s %-22s %3s %8s %8s %8s %8s\n", "model", "layer", "IC->OC HxW k/s", "x",
              "fwd ms", "fwd", "bwd-data", "bwd-w");
  const char* model = nullptr;
  double flops = 0, fwd = 0, bd_flops = 0, bd = 0, bw = 0;
  auto print_total = [&] {
    std::printf("%-12s %-14s %-22s %3s %8.2f %8.1f %8.1f %8.1f\n", model, "TOTAL", "(FLOP-weighted)",
                "", fwd * 1e3, flops / fwd / 1e9, bd_flops / bd / 1e9, flops / bw / 1e9);
  };
  for (const Shape2d& s : kShapes) {
    if (model && std::strcmp(model, s.model)) {
      print_total();
      flops = fwd = bd_flops = bd = bw = 0;
    }
    model = s.model;
    const bool first = std::strstr(s.name, "(first)") != nullptr;
    Timing t = time_conv(s, batch, reps);
    char shape[64];
    std::snprintf(shape, sizeof shape, "%ld->%ld %ldx%ld k%ld/%ld", long(s.p.in_channels),
                  long(s.p.out_channels), long(s.H), long(s.W), long(s.p.kernel_h),
                  long(s.p.stride_h));
    std::printf("%-12s %-14s %-22s %3d %8.2f %8.1f %8.1f %8.1f\n", s.model, s.name, shape, s.count,
                t.fwd * 1e3, t.flops / t.fwd / 1e9, t.flops / t.bwd_data / 1e9,
                t.flops / t.bwd_weight / 1e9);
    flops += s.count * t.flops;
    fwd += s.count * t.fwd;
    bw += s.count * t.bwd_weight;
    if (!first) {  // training never computes the input gradient of the first conv
      bd_flops += s.count * t.flops;
      bd += s.count * t.bwd_data;
    }
  }
  print_total();
  std::printf("(bwd-data totals leave out the first conv: training skips its dx)\n");
  std::printf("SGEMM 1024x1024x1024 (taper sgemm, Eigen kernel): %.1f GFLOP/s\n", gemm_gflops(reps));
  return 0;
}
