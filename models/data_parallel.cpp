#include "models/data_parallel.h"

#include <algorithm>

#include "engine/comm.h"
#include "engine/error.h"

namespace taper {

void take_shard(const Tensor& x, const std::vector<int64_t>& labels, ShardBuffers& shard) {
  const int64_t B = static_cast<int64_t>(labels.size());
  check(B >= comm_size(), "a global batch of ", B, " images cannot be split over ", comm_size(),
        " ranks (use --batch >= the number of ranks)");
  int64_t begin, end;
  comm_shard(B, begin, end);
  Shape s = x.shape();
  const int64_t per_image = x.numel() / B;
  s[0] = end - begin;
  shard.x.data.resize(s);
  std::copy(x.data() + begin * per_image, x.data() + end * per_image, shard.x.data.data());
  shard.labels.assign(labels.begin() + begin, labels.begin() + end);
}

void allreduce_gradients(std::vector<ParamGroup>& groups, std::vector<float>& flat) {
  int64_t total = 0;
  for (auto& g : groups)
    for (auto& p : g.params) total += p.var->data.numel();
  flat.resize(static_cast<size_t>(total));
  int64_t at = 0;
  for (auto& g : groups)
    for (auto& p : g.params) {
      const Tensor& grad = p.var->grad_buffer();  // zero when this rank's backward never reached p
      std::copy(grad.data(), grad.data() + grad.numel(), flat.data() + at);
      at += grad.numel();
    }
  allreduce_sum(flat.data(), total);
  at = 0;
  for (auto& g : groups)
    for (auto& p : g.params) {
      Tensor& grad = p.var->grad_buffer();
      std::copy(flat.data() + at, flat.data() + at + grad.numel(), grad.data());
      at += grad.numel();
    }
}

}  // namespace taper
