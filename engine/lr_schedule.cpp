#include "engine/lr_schedule.h"

#include <cmath>

#include "engine/error.h"

namespace taper {

void validate(const LrSchedule& s) {
  const char* who = "lr schedule";
  check(s.kind == "multistep" || s.kind == "cosine" || s.kind == "constant", who,
        ": unknown kind '", s.kind, "' (expected multistep, cosine or constant)");
  check(std::isfinite(s.base_lr) && s.base_lr >= 0.0f, who, ": base_lr must be >= 0, got ",
        s.base_lr);
  check(s.total_epochs >= 1, who, ": total_epochs must be >= 1, got ", s.total_epochs);
  check(s.warmup_epochs >= 0, who, ": warmup_epochs must be >= 0, got ", s.warmup_epochs);
  check(s.kind == "multistep" || s.milestones.empty(), who, ": milestones are given but kind is '",
        s.kind, "' (only multistep uses them)");
  if (s.kind == "multistep") {
    check(std::isfinite(s.gamma) && s.gamma > 0.0f, who, ": gamma must be > 0, got ", s.gamma);
    for (size_t i = 0; i < s.milestones.size(); ++i) {
      const int m = s.milestones[i];
      check(m >= 0, who, ": milestone ", m, " is negative");
      check(i == 0 || m > s.milestones[i - 1], who,
            ": milestones must be strictly increasing, got ", s.milestones[i - 1], " then ", m);
      check(m >= s.warmup_epochs, who, ": milestone ", m, " falls inside the ", s.warmup_epochs,
            " warm-up epochs");
    }
  }
  if (s.kind == "cosine") {
    check(std::isfinite(s.min_lr) && s.min_lr >= 0.0f && s.min_lr <= s.base_lr, who,
          ": min_lr must be in [0, base_lr = ", s.base_lr, "], got ", s.min_lr);
    check(s.warmup_epochs < s.total_epochs, who, ": the ", s.warmup_epochs,
          " warm-up epochs leave nothing of the ", s.total_epochs, " epochs to anneal");
  }
}

float LrSchedule::lr_at(int epoch) const {
  validate(*this);
  check(epoch >= 0, "lr schedule: epoch must be >= 0, got ", epoch);
  const double base = base_lr;
  if (epoch < warmup_epochs) return static_cast<float>(base * (epoch + 1) / warmup_epochs);

  if (kind == "constant") return base_lr;
  if (kind == "multistep") {
    int k = 0;  // milestones <= epoch
    for (int m : milestones) k += m <= epoch;
    return static_cast<float>(base * std::pow(double(gamma), k));
  }
  // cosine
  if (epoch >= total_epochs) return min_lr;
  const double pi = std::acos(-1.0);
  const double progress = double(epoch - warmup_epochs) / (total_epochs - warmup_epochs);
  return static_cast<float>(min_lr + (base - min_lr) * (1.0 + std::cos(pi * progress)) / 2.0);
}

}  // namespace taper
