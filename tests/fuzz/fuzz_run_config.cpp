// Fuzz target: a run file (apps/run_config.h), read as `taper train --run
// FILE` reads it; an accepted config must survive the round trip through
// to_json() and run_config_from_json (what checkpoints store).
#include <cstdint>
#include <string>

#include "apps/args.h"
#include "apps/run_config.h"
#include "engine/error.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = taper::fuzz::write_file("run.json", data, size);
  std::string flag = "--run";
  std::string command = "train";
  char* argv[] = {command.data(), flag.data(), path.data()};
  try {
    taper::app::Args args(3, argv, {});
    taper::app::RunConfig c = taper::app::read_run_config(args);
    nlohmann::json j = nlohmann::json::parse(c.to_json().dump());
    taper::app::RunConfig again = taper::app::run_config_from_json(j, "round trip");
    if (again.to_json() != c.to_json()) __builtin_trap();
  } catch (const taper::Error&) {
  }
  return 0;
}
