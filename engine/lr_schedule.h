// Learning-rate schedules: the learning rate of each epoch, as a closed form
// of the epoch number (counted from 0), so a resumed run needs no history.
//
// With base = base_lr, W = warmup_epochs, T = total_epochs, e = epoch:
//
//   warm-up (any kind), e < W:   lr = base * (e + 1) / W
//   then, for e >= W:
//   constant:    lr = base
//   multistep:   lr = base * gamma^k, k = the number of milestones <= e
//                (torch.optim.lr_scheduler.MultiStepLR; with W = 0 the same
//                values for every epoch)
//   cosine:      lr = min_lr + (base - min_lr) * (1 + cos(pi * (e - W) / (T - W))) / 2
//                for W <= e < T, and min_lr for e >= T
//                (the closed form of CosineAnnealingLR with T_max = T - W and
//                eta_min = min_lr, started after the warm-up)
//
// The paper's CIFAR protocol is multistep, base 0.1, gamma 0.1, milestones
// 80, 120, 160.
#pragma once

#include <string>
#include <vector>

namespace taper {

struct LrSchedule {
  std::string kind = "multistep";  // "multistep" | "cosine" | "constant"
  float base_lr = 0.1f;
  std::vector<int> milestones;  // multistep: epochs where lr *= gamma, increasing
  float gamma = 0.1f;           // multistep: factor per milestone, > 0
  int total_epochs = 1;         // cosine: anneal over [warmup_epochs, total_epochs)
  float min_lr = 0.0f;          // cosine: floor, <= base_lr
  int warmup_epochs = 0;        // linear warm-up: epoch e < W gets base_lr * (e + 1) / W

  // The learning rate for `epoch` (>= 0). Validates the settings first and
  // throws Error on bad ones.
  float lr_at(int epoch) const;
};

// Throws Error naming the setting for: an unknown kind, negative or
// non-finite rates, gamma <= 0, milestones that are negative, not strictly
// increasing, inside the warm-up or given to a kind other than multistep,
// total_epochs < 1, a negative warm-up, and for cosine a warm-up that covers
// all epochs or min_lr > base_lr.
void validate(const LrSchedule& schedule);

}  // namespace taper
