#include <catch2/catch.hpp>

#include "engine/error.h"
#include "engine/lr_schedule.h"

using namespace taper;

// The schedule computes in double from float settings and returns a float;
// the expected values are exact decimals, so allow float rounding only.
constexpr double kLrRelTol = 1e-6;

TEST_CASE("multistep: base * gamma^(milestones <= epoch), the paper's CIFAR protocol") {
  LrSchedule s;  // multistep by default
  s.base_lr = 0.1f;
  s.gamma = 0.1f;
  s.milestones = {80, 120, 160};
  s.total_epochs = 200;
  CHECK(s.lr_at(0) == 0.1f);
  CHECK(s.lr_at(79) == 0.1f);
  CHECK(s.lr_at(80) == Approx(0.01).epsilon(kLrRelTol));
  CHECK(s.lr_at(119) == Approx(0.01).epsilon(kLrRelTol));
  CHECK(s.lr_at(120) == Approx(0.001).epsilon(kLrRelTol));
  CHECK(s.lr_at(160) == Approx(0.0001).epsilon(kLrRelTol));
  CHECK(s.lr_at(199) == Approx(0.0001).epsilon(kLrRelTol));
  CHECK(s.lr_at(500) == Approx(0.0001).epsilon(kLrRelTol));

  s.gamma = 0.5f;
  s.milestones = {0, 2};
  CHECK(s.lr_at(0) == Approx(0.05).epsilon(kLrRelTol));
  CHECK(s.lr_at(1) == Approx(0.05).epsilon(kLrRelTol));
  CHECK(s.lr_at(2) == Approx(0.025).epsilon(kLrRelTol));

  s.milestones.clear();
  CHECK(s.lr_at(1000) == 0.1f);
}

TEST_CASE("linear warm-up: epoch e < W gets base * (e + 1) / W, then the schedule") {
  LrSchedule s;
  s.base_lr = 0.2f;
  s.warmup_epochs = 4;
  s.milestones = {6};
  s.gamma = 0.1f;
  CHECK(s.lr_at(0) == Approx(0.05).epsilon(kLrRelTol));
  CHECK(s.lr_at(1) == Approx(0.1).epsilon(kLrRelTol));
  CHECK(s.lr_at(2) == Approx(0.15).epsilon(kLrRelTol));
  CHECK(s.lr_at(3) == 0.2f);
  CHECK(s.lr_at(5) == 0.2f);
  CHECK(s.lr_at(6) == Approx(0.02).epsilon(kLrRelTol));

  LrSchedule c;
  c.kind = "constant";
  c.base_lr = 0.01f;
  c.warmup_epochs = 2;
  CHECK(c.lr_at(0) == Approx(0.005).epsilon(kLrRelTol));
  CHECK(c.lr_at(1) == 0.01f);
  CHECK(c.lr_at(7) == 0.01f);
}

TEST_CASE("cosine: min + (base - min) (1 + cos(pi (e - W) / (T - W))) / 2") {
  LrSchedule s;
  s.kind = "cosine";
  s.base_lr = 0.1f;
  s.min_lr = 0.001f;
  s.total_epochs = 10;
  CHECK(s.lr_at(0) == 0.1f);
  CHECK(s.lr_at(1) == Approx(0.09757729755661011).epsilon(kLrRelTol));
  CHECK(s.lr_at(5) == Approx(0.0505).epsilon(kLrRelTol));  // halfway: the mean
  CHECK(s.lr_at(9) == Approx(0.0034227024433899004).epsilon(kLrRelTol));
  CHECK(s.lr_at(10) == 0.001f);  // past the end: the floor
  CHECK(s.lr_at(50) == 0.001f);

  // The same curve shifted by a 2-epoch warm-up.
  s.warmup_epochs = 2;
  s.total_epochs = 12;
  CHECK(s.lr_at(0) == Approx(0.05).epsilon(kLrRelTol));
  CHECK(s.lr_at(1) == 0.1f);
  CHECK(s.lr_at(2) == 0.1f);
  CHECK(s.lr_at(3) == Approx(0.09757729755661011).epsilon(kLrRelTol));
  CHECK(s.lr_at(7) == Approx(0.0505).epsilon(kLrRelTol));
  CHECK(s.lr_at(11) == Approx(0.0034227024433899004).epsilon(kLrRelTol));

  s.warmup_epochs = 0;
  s.total_epochs = 200;
  s.min_lr = 0.0f;
  CHECK(s.lr_at(100) == Approx(0.05).epsilon(kLrRelTol));
  CHECK(s.lr_at(199) == Approx(6.168375916970615e-06).epsilon(kLrRelTol));
}

TEST_CASE("lr schedule settings are validated") {
  auto rejects = [](LrSchedule s, const std::string& expected) {
    INFO("expected: " << expected);
    CHECK_THROWS_WITH(validate(s), Catch::Contains(expected));
    CHECK_THROWS_WITH(s.lr_at(0), Catch::Contains(expected));
  };
  LrSchedule s;
  s.kind = "step";
  rejects(s, "unknown kind 'step'");
  s = LrSchedule();
  s.milestones = {80, 80};
  rejects(s, "strictly increasing");
  s.milestones = {120, 80};
  rejects(s, "strictly increasing");
  s.milestones = {-1};
  rejects(s, "milestone -1 is negative");
  s.milestones = {2};
  s.warmup_epochs = 5;
  rejects(s, "milestone 2 falls inside the 5 warm-up epochs");
  s = LrSchedule();
  s.gamma = 0.0f;
  rejects(s, "gamma must be > 0");
  s = LrSchedule();
  s.base_lr = -0.1f;
  rejects(s, "base_lr must be >= 0");
  s = LrSchedule();
  s.warmup_epochs = -1;
  rejects(s, "warmup_epochs must be >= 0");
  s = LrSchedule();
  s.total_epochs = 0;
  rejects(s, "total_epochs must be >= 1");
  s = LrSchedule();
  s.kind = "cosine";
  s.milestones = {10};
  rejects(s, "only multistep uses them");
  s.milestones.clear();
  s.min_lr = 0.5f;
  rejects(s, "min_lr must be in [0, base_lr");
  s.min_lr = -0.01f;
  rejects(s, "min_lr must be in [0, base_lr");
  s.min_lr = 0.0f;
  s.total_epochs = 5;
  s.warmup_epochs = 5;
  rejects(s, "leave nothing");

  CHECK_THROWS_WITH(LrSchedule().lr_at(-1), Catch::Contains("epoch must be >= 0"));
  CHECK_NOTHROW(validate(LrSchedule()));
}
