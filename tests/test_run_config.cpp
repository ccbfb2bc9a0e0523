// The run file parser (apps/run_config.h) is strict about ranges: values
// that would not fit the fields they are stored in are refused, not
// truncated (found by the run_config fuzz target's review, docs/reliability.md).
#include <catch2/catch.hpp>

#include "apps/args.h"
#include "apps/run_config.h"
#include "data_fixtures.h"
#include "engine/error.h"

using namespace taper;
using namespace taper::testing;

static app::RunConfig read(const std::string& path) {
  std::string command = "train", flag = "--run", p = path;
  char* argv[] = {command.data(), flag.data(), p.data()};
  app::Args args(3, argv, {});
  return app::read_run_config(args);
}

TEST_CASE("run file: milestones are epochs 1..1000000, never truncated") {
  TempDir dir;
  write_text(dir.file("ok.json"), R"({"model": "m.json", "epochs": 10, "milestones": [3, 6]})");
  CHECK(read(dir.file("ok.json")).milestones == std::vector<int>{3, 6});
  // 2^32 + 5 would become 5 as an int.
  write_text(dir.file("big.json"), R"({"model": "m.json", "epochs": 10, "milestones": [4294967301]})");
  CHECK_THROWS_WITH(read(dir.file("big.json")),
                    Catch::Contains("\"milestones\"") && Catch::Contains("1..1000000") &&
                        Catch::Contains("4294967301"));
  write_text(dir.file("neg.json"), R"({"model": "m.json", "milestones": [0]})");
  CHECK_THROWS_AS(read(dir.file("neg.json")), Error);
}
