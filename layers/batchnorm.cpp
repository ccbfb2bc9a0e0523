#include "layers/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "engine/comm.h"
#include "engine/error.h"
#include "engine/parallel.h"
#include "layers/activation.h"
#include "quant/act_quant.h"
#include "quant/kbit.h"

namespace taper {

namespace {

// x is (N, C, H, W) or (N, C); channel c's values are x[(n C + c) HW + i] for
// n < N and i < HW (HW = H W, or 1 for 2-d input).
struct ChannelLayout {
  int64_t N, C, HW;
  int64_t at(int64_t n, int64_t c) const { return (n * C + c) * HW; }
};

void check_channel_vector(const char* what, const Tensor& t, int64_t C, const Tensor& x) {
  check(t.ndim() == 1 && t.dim(0) == C, "batchnorm: ", what, " has shape ", shape_str(t.shape()),
        " but input ", shape_str(x.shape()), " has ", C, " channels (expected (", C, "))");
}

// The fused activation of s (the batch-norm output) and its mask, as
// compile-time cases so each loop below vectorizes. Each case calls the one
// scalar formula of that activation (relu_value / relu_passes in
// layers/activation.h, act_quant_value / act_quant_passes in
// quant/act_quant.h), so fused and separate ops agree bit for bit.
template <FusedActivation A>
inline float activate(float s, float steps) {
  if constexpr (A == FusedActivation::relu) return relu_value(s);
  if constexpr (A == FusedActivation::quantize) return act_quant_value(s, steps);
  return s;
}
template <FusedActivation A>
inline bool passes(float s) {
  if constexpr (A == FusedActivation::relu) return relu_passes(s);
  if constexpr (A == FusedActivation::quantize) return act_quant_passes(s);
  return true;
}

// Calls f with the activation as a compile-time tag, so that each loop
// below is compiled once per activation and vectorizes.
template <typename F>
void with_activation(FusedActivation act, F&& f) {
  switch (act) {
    case FusedActivation::none: f(std::integral_constant<FusedActivation, FusedActivation::none>{}); break;
    case FusedActivation::relu: f(std::integral_constant<FusedActivation, FusedActivation::relu>{}); break;
    case FusedActivation::quantize: f(std::integral_constant<FusedActivation, FusedActivation::quantize>{}); break;
  }
}

// One channel's sums are vectorized with `omp simd reduction`: lanes keep
// partial sums (in double) that are combined in a fixed order, so a channel
// gives the same result on every run whatever the thread count (a channel
// is never split between threads).

// sum x over one channel, in double.
double channel_sum(const float* xp, const ChannelLayout& L, int64_t c) {
  double sum = 0.0;
  for (int64_t n = 0; n < L.N; ++n) {
    const float* xc = xp + L.at(n, c);
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < L.HW; ++i) sum += xc[i];
  }
  return sum;
}

// sum (x - mean)^2 over one channel: a second pass around the mean, so no
// cancellation.
double channel_sq(const float* xp, const ChannelLayout& L, int64_t c, double mean) {
  double sq = 0.0;
  for (int64_t n = 0; n < L.N; ++n) {
    const float* xc = xp + L.at(n, c);
#pragma omp simd reduction(+ : sq)
    for (int64_t i = 0; i < L.HW; ++i) {
      const double d = xc[i] - mean;
      sq += d * d;
    }
  }
  return sq;
}

// y = act((x - mu) * scale + shift) over one channel.
template <FusedActivation A>
void forward_channel(const float* xp, float* yp, const ChannelLayout& L, int64_t c, float mu, float scale,
                     float shift, float steps) {
  for (int64_t n = 0; n < L.N; ++n) {
    const float* x = xp + L.at(n, c);
    float* y = yp + L.at(n, c);
#pragma omp simd
    for (int64_t i = 0; i < L.HW; ++i) y[i] = activate<A>(batchnorm_affine(x[i], mu, scale, shift), steps);
  }
}

// The channel's gradient sums, dy masked by the activation:
// sum_dy = sum g, sum_dy_xhat = sum g x_hat.
// Each contiguous run (one image's H x W plane) is summed in kGradLanes float
// lanes (element i of the run goes to lane i % kGradLanes), the lanes are
// added in lane order and the runs' totals in double: as accurate as summing
// in double for these sizes, and it vectorizes (a masked sum converted to
// double per element does not). The lanes are written out rather than left
// to `omp simd reduction`, whose grouping of the additions depends on the
// vector width the compiler picks for each instantiation: without AVX-512
// the masked (fused) and unmasked loops were vectorized differently and the
// fused batch norm's gradients differed from the separate ops' in the last
// bits. Written out, every activation and every build adds the same values
// in the same order.
constexpr int kGradLanes = 16;

template <FusedActivation A>
void channel_grad_sums(const float* xp, const float* dyp, const ChannelLayout& L, int64_t c, float mu,
                       float invstd, float gamma, float shift, double& sum_dy, double& sum_dy_xhat) {
  const float scale = gamma * invstd;
  auto masked = [&](const float* x, const float* dy, int64_t i) {
    return passes<A>(batchnorm_affine(x[i], mu, scale, shift)) ? dy[i] : 0.0f;
  };
  double s1 = 0.0, s2 = 0.0;
  for (int64_t n = 0; n < L.N; ++n) {
    const float* x = xp + L.at(n, c);
    const float* dy = dyp + L.at(n, c);
    float r1[kGradLanes] = {}, r2[kGradLanes] = {};
    int64_t i = 0;
    for (; i + kGradLanes <= L.HW; i += kGradLanes) {
#pragma omp simd
      for (int j = 0; j < kGradLanes; ++j) {
        const float g = masked(x, dy, i + j);
        r1[j] += g;
        r2[j] += g * ((x[i + j] - mu) * invstd);
      }
    }
    for (int j = 0; i + j < L.HW; ++j) {
      const float g = masked(x, dy, i + j);
      r1[j] += g;
      r2[j] += g * ((x[i + j] - mu) * invstd);
    }
    float t1 = 0.0f, t2 = 0.0f;
    for (int j = 0; j < kGradLanes; ++j) t1 += r1[j], t2 += r2[j];
    s1 += t1;
    s2 += t2;
  }
  sum_dy = s1;
  sum_dy_xhat = s2;
}

// dx += scale (g - mean_dy - x_hat mean_dy_xhat) over one channel (the two
// means are 0 in eval mode).
template <FusedActivation A>
void channel_dx(const float* xp, const float* dyp, float* dxp, const ChannelLayout& L, int64_t c, float mu,
                float invstd, float gamma, float shift, float mean_dy, float mean_dy_xhat) {
  const float scale = gamma * invstd;
  for (int64_t n = 0; n < L.N; ++n) {
    const float* x = xp + L.at(n, c);
    const float* dy = dyp + L.at(n, c);
    float* dx = dxp + L.at(n, c);
#pragma omp simd
    for (int64_t i = 0; i < L.HW; ++i) {
      const float g = passes<A>(batchnorm_affine(x[i], mu, scale, shift)) ? dy[i] : 0.0f;
      const float xhat = (x[i] - mu) * invstd;
      dx[i] += scale * (g - mean_dy - xhat * mean_dy_xhat);
    }
  }
}

}  // namespace

void BatchNorm::fuse_activation(FusedActivation act, int bits) {
  act_ = act;
  steps_ = act == FusedActivation::quantize ? quant_steps(bits, "batchnorm fused activation") : 0.0f;
}

// Forward, per channel c:
//   training: mean = (1/M) sum x, var = (1/M) sum (x - mean)^2 (sums in double);
//             running_mean = (1 - m) running_mean + m mean,
//             running_var  = (1 - m) running_var  + m var M / (M - 1).
//   eval:     mean = running_mean, var = running_var.
//   y = gamma (x - mean) invstd + beta, invstd = 1 / sqrt(var + eps).
Var& BatchNorm::forward(Var& x, Var& gamma, Var& beta, Tensor& running_mean, Tensor& running_var,
                        Tape& tape) {
  const Tensor& xd = x.data;
  check(xd.ndim() == 4 || xd.ndim() == 2, "batchnorm: input ", shape_str(xd.shape()),
        " is neither (N, C, H, W) nor (N, C)");
  const ChannelLayout L{xd.dim(0), xd.dim(1), xd.ndim() == 4 ? xd.dim(2) * xd.dim(3) : 1};
  check_channel_vector("gamma", gamma.data, L.C, xd);
  check_channel_vector("beta", beta.data, L.C, xd);
  check_channel_vector("running_mean", running_mean, L.C, xd);
  check_channel_vector("running_var", running_var, L.C, xd);
  check(momentum >= 0.0f && momentum <= 1.0f, "batchnorm: momentum ", momentum,
        " is out of range (expected 0 <= momentum <= 1)");
  check(eps >= 0.0f && std::isfinite(eps), "batchnorm: eps ", eps, " is not a finite value >= 0");
  const int64_t M = L.N * L.HW;  // values per channel

  // Synchronized batch norm: the statistics of the global batch, summed
  // over the ranks of a data-parallel job (engine/comm.h).
  const bool sync = this->sync && training && comm_size() > 1;
  int64_t M_all = M;  // values per channel in the whole (global) batch
  if (sync) {
    allreduce_sum(&M_all, 1);
    check(M_all > 1, "batchnorm: training needs more than one value per channel, but the global batch has ",
          M_all, " (use a larger batch, or eval mode)");
  } else {
    check(!training || M > 1, "batchnorm: training needs more than one value per channel, but input ",
          shape_str(xd.shape()), " has N*H*W = ", M, " (use a larger batch, or eval mode)");
  }

  out.data.resize(xd.shape());  // same shape as x
  mean_.resize({L.C});          // (C)
  invstd_.resize({L.C});        // (C)
  trained_ = training;
  synced_ = sync;
  const float* xp = xd.data();
  const float* gp = gamma.data.data();
  const float* bp = beta.data.data();
  float* rm = running_mean.data();
  float* rv = running_var.data();
  float* yp = out.data.data();
  const double m = momentum;
  const float steps = steps_;
  // Channel c with its statistics: in training, move the running statistics
  // (unbiased variance, M values), then normalize and apply the activation.
  auto finish_channel = [&](int64_t c, double mean, double var, bool update, int64_t Mc) {
    if (update) {
      rm[c] = static_cast<float>((1.0 - m) * rm[c] + m * mean);
      rv[c] = static_cast<float>((1.0 - m) * rv[c] + m * var * Mc / (Mc - 1));
    }
    const float mu = static_cast<float>(mean);
    const float invstd = batchnorm_invstd(var, eps);
    mean_[c] = mu;
    invstd_[c] = invstd;
    const float scale = gp[c] * invstd, shift = bp[c];
    with_activation(act_, [&](auto A) { forward_channel<decltype(A)::value>(xp, yp, L, c, mu, scale, shift, steps); });
  };
  // One channel per iteration: every statistic, running-stat slot and output
  // element belongs to one channel, so threads never share memory, and each
  // channel's sums run in the same order whatever the thread count.
  const bool parallel = xd.numel() >= kMinParallelWork;
  if (!training) {
    parallel_for(L.C, parallel, [&](int64_t c) { finish_channel(c, rm[c], rv[c], false, M); });
  } else if (!sync) {
    parallel_for(L.C, parallel, [&](int64_t c) {
      const double mean = channel_sum(xp, L, c) / M;
      finish_channel(c, mean, channel_sq(xp, L, c, mean) / M, true, M);
    });
  } else {  // the same sums, each all-reduced before it is used
    sums_.resize(2 * L.C);
    double* sum = sums_.data();
    double* sq = sums_.data() + L.C;
    parallel_for(L.C, parallel, [&](int64_t c) { sum[c] = channel_sum(xp, L, c); });
    allreduce_sum(sum, L.C);
    parallel_for(L.C, parallel, [&](int64_t c) { sq[c] = channel_sq(xp, L, c, sum[c] / M_all); });
    allreduce_sum(sq, L.C);
    parallel_for(L.C, parallel,
                 [&](int64_t c) { finish_channel(c, sum[c] / M_all, sq[c] / M_all, true, M_all); });
  }
  x_ = &x, gamma_ = &gamma, beta_ = &beta;
  record(tape, {&x, &gamma, &beta});
  return out;
}

// Backward, per channel, with x_hat = (x - mean) invstd and sums over the
// channel's M values. With a fused activation, dy below is first masked:
// dy = dL/dy * pass(s), s = gamma x_hat + beta recomputed as in forward.
//   dbeta  += sum dy
//   dgamma += sum dy x_hat
//   training (mean and invstd depend on x):
//     dx += gamma invstd (dy - (1/M) sum dy - x_hat (1/M) sum dy x_hat)
//   eval (running statistics are constants):
//     dx += gamma invstd dy
void BatchNorm::backward() {
  const Tensor& xd = x_->data;
  const ChannelLayout L{xd.dim(0), xd.dim(1), xd.ndim() == 4 ? xd.dim(2) * xd.dim(3) : 1};
  const float* xp = xd.data();
  const float* gp = gamma_->data.data();
  const float* dy = out.grad.data();
  // Gradient pointers are fetched here: grad_buffer() may allocate, which
  // must not happen inside the parallel loop.
  float* dx = x_->requires_grad ? x_->grad_buffer().data() : nullptr;
  float* dgamma = gamma_->requires_grad ? gamma_->grad_buffer().data() : nullptr;
  float* dbeta = beta_->requires_grad ? beta_->grad_buffer().data() : nullptr;
  const bool train = trained_;
  const float* bp = beta_->data.data();
  const bool parallel = xd.numel() >= kMinParallelWork;
  if (!synced_) {
    const double M = static_cast<double>(L.N * L.HW);
    parallel_for(L.C, parallel, [&](int64_t c) {
      const float mu = mean_[c], invstd = invstd_[c];
      with_activation(act_, [&](auto A) {
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        channel_grad_sums<decltype(A)::value>(xp, dy, L, c, mu, invstd, gp[c], bp[c], sum_dy, sum_dy_xhat);
        if (dx) {
          const float mean_dy = train ? static_cast<float>(sum_dy / M) : 0.0f;
          const float mean_dy_xhat = train ? static_cast<float>(sum_dy_xhat / M) : 0.0f;
          channel_dx<decltype(A)::value>(xp, dy, dx, L, c, mu, invstd, gp[c], bp[c], mean_dy, mean_dy_xhat);
        }
        if (dbeta) dbeta[c] += static_cast<float>(sum_dy);
        if (dgamma) dgamma[c] += static_cast<float>(sum_dy_xhat);
      });
    });
    return;
  }
  // Synchronized (training under a data-parallel job): gamma and beta get
  // this rank's sums (the gradient all-reduce adds the ranks up later); dx
  // needs the means over the global batch, so the sums are all-reduced first.
  sums_.resize(2 * L.C);
  double* s1 = sums_.data();
  double* s2 = sums_.data() + L.C;
  parallel_for(L.C, parallel, [&](int64_t c) {
    with_activation(act_, [&](auto A) {
      channel_grad_sums<decltype(A)::value>(xp, dy, L, c, mean_[c], invstd_[c], gp[c], bp[c], s1[c], s2[c]);
    });
    if (dbeta) dbeta[c] += static_cast<float>(s1[c]);
    if (dgamma) dgamma[c] += static_cast<float>(s2[c]);
  });
  if (!dx) return;
  allreduce_sum(sums_.data(), 2 * L.C);
  int64_t M_all = L.N * L.HW;
  allreduce_sum(&M_all, 1);
  parallel_for(L.C, parallel, [&](int64_t c) {
    const float mean_dy = static_cast<float>(s1[c] / M_all);
    const float mean_dy_xhat = static_cast<float>(s2[c] / M_all);
    with_activation(act_, [&](auto A) {
      channel_dx<decltype(A)::value>(xp, dy, dx, L, c, mean_[c], invstd_[c], gp[c], bp[c], mean_dy, mean_dy_xhat);
    });
  });
}

}  // namespace taper
