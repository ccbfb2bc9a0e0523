#include "apps/model_choice.h"

#include <sys/stat.h>

#include <cstdio>

#include "analysis/sensitivity.h"
#include "engine/error.h"
#include "quant/policy.h"
#include "models/size.h"

namespace taper::app {

static bool is_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string resolve_model_path(const std::string& arg) {
  if (is_file(arg)) return arg;
  if (arg.find('/') == std::string::npos) {
    std::string shipped = std::string(TAPER_SOURCE_DIR) + "/models/" + arg + ".json";
    if (is_file(shipped)) return shipped;
    if (arg.size() < 5 || arg.compare(arg.size() - 5, 5, ".json") != 0)
      fail("model '", arg, "': no such file, and no shipped model of that name in ",
           TAPER_SOURCE_DIR, "/models/");
  }
  fail(arg, ": no such model file");
}

double matched_width(const std::string& model_path, const std::string& wbits, const std::string& match) {
  ModelSpec base = load_model_file(model_path);
  std::vector<int> bits = parse_wbits(wbits, base.num_stages);
  int64_t target = size_report(base, parse_wbits(match, base.num_stages)).weight_bytes;
  return match_width(base, bits, target);
}

ModelChoice read_model_choice(Args& args, const std::string& model_arg) {
  ModelChoice c;
  ModelSpec base = load_model_file(resolve_model_path(model_arg));
  c.wbits = args.get_or("--wbits", "32");
  c.abits = parse_abits(args.get_or("--abits", "32"));
  auto width = args.get("--width");
  auto match = args.get("--match-size");
  if (width && match) fail("--width and --match-size cannot be used together");
  if (width) c.width = parse_double(*width, "--width", 1e-3, 64.0);
  if (is_auto_wbits(c.wbits)) {  // analysis/sensitivity.h: the allocation at this width
    if (match) fail("--wbits auto:... picks bits for a size; it cannot be combined with --match-size");
    const AutoPolicy a = resolve_auto_wbits(c.wbits, c.width == 1.0 ? base : apply_width(base, c.width));
    std::fprintf(stderr, "%s\n", describe(a).c_str());
    c.wbits = bits_to_string(a.allocation.bits);
  }
  c.stage_bits = parse_wbits(c.wbits, base.num_stages);
  if (match) {
    std::vector<int> other = parse_wbits(*match, base.num_stages);
    int64_t target = size_report(base, other).weight_bytes;
    c.width = match_width(base, c.stage_bits, target);
    c.match = SizeMatch{*match, target};
  }
  c.spec = c.width == 1.0 ? base : apply_width(base, c.width);
  return c;
}

}  // namespace taper::app
