#include "engine/profiler.h"

#include <algorithm>
#include <vector>

namespace taper {

static Profiler* g_active = nullptr;

Profiler::Profiler() { g_active = this; }
Profiler::~Profiler() {
  if (g_active == this) g_active = nullptr;
}

Profiler* Profiler::active() { return g_active; }

void Profiler::add(const std::string& what, double seconds) {
  Row& r = rows_[what];
  r.seconds += seconds;
  ++r.calls;
}

void Profiler::print(FILE* out, int per_count, const char* per_name) const {
  std::vector<std::pair<std::string, Row>> rows(rows_.begin(), rows_.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double total = 0.0;
  for (const auto& r : rows) total += r.second.seconds;
  std::fprintf(out, "%-28s %10s %7s %8s\n", "op", per_name, "share", "calls");
  for (const auto& [name, r] : rows)
    std::fprintf(out, "%-28s %8.2f ms %6.1f%% %8lld\n", name.c_str(), 1e3 * r.seconds / per_count,
                 total > 0 ? 100.0 * r.seconds / total : 0.0, static_cast<long long>(r.calls));
  std::fprintf(out, "%-28s %8.2f ms\n", "total (timed ops)", 1e3 * total / per_count);
}

}  // namespace taper
