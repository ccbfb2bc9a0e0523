// A per-op-type timer: while a Profiler is active, Model::forward and
// Tape::backward time every op and add the seconds to its type's row
// ("conv forward", "batchnorm backward", ...). `taper bench --profile` prints
// the table. When no profiler is active, the cost is one pointer check per op.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <string>

namespace taper {

class Profiler {
 public:
  Profiler();   // becomes the active profiler
  ~Profiler();  // stops being active
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  static Profiler* active();
  void add(const std::string& what, double seconds);
  // Rows by time, with share of the total and milliseconds per call of `per`.
  void print(FILE* out, int per_count, const char* per_name) const;

 private:
  struct Row {
    double seconds = 0.0;
    int64_t calls = 0;
  };
  std::map<std::string, Row> rows_;
};

// Times one scope into the active profiler (if any).
class ProfileScope {
 public:
  ProfileScope(const char* type, const char* phase) : type_(type), phase_(phase) {
    if (Profiler::active()) start_ = std::chrono::steady_clock::now();
  }
  ~ProfileScope() {
    if (Profiler* p = Profiler::active())
      p->add(std::string(type_) + " " + phase_,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }

 private:
  const char* type_;
  const char* phase_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace taper
