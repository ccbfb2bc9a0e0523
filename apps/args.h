// A strict command-line flag reader for taper's subcommands.
//
// Flags are `--name value`, `--name=value`, or switches (`--json`) declared
// as such. A value that starts with `--` is given as `--name=value`: a flag
// followed by another flag has no value. Every flag a command does not read
// is an error at finish(), and every value is range-checked, so a typo never
// silently falls back to a default. Errors are taper::Error (exit code 2 in
// apps/main.cpp).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace taper::app {

class Args {
 public:
  // argv[0] is the command name. `switches` are the flags that take no value.
  Args(int argc, char** argv, const std::set<std::string>& switches);

  bool help() const { return help_; }
  bool flag(const std::string& name);  // a switch
  bool has(const std::string& name) const { return values_.count(name) > 0 || no_value_.count(name) > 0; }
  std::optional<std::string> get(const std::string& name);
  std::string get_or(const std::string& name, const std::string& fallback);
  int64_t get_int(const std::string& name, int64_t fallback, int64_t lo, int64_t hi);
  double get_double(const std::string& name, double fallback, double lo, double hi);
  std::vector<std::string>& positional() { return positional_; }
  // Exactly n positional arguments, described by `what` in the error.
  void expect_positional(size_t n, const std::string& what) const;
  // Throws Error for any flag that was given but not read.
  void finish() const;

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
  std::set<std::string> switches_given_;
  std::set<std::string> no_value_;  // value flags given without a value: an error once read
  std::set<std::string> read_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

// Parses a whole number or a real number from text, with a message naming `what`.
int64_t parse_int(const std::string& text, const std::string& what, int64_t lo, int64_t hi);
double parse_double(const std::string& text, const std::string& what, double lo, double hi);

}  // namespace taper::app
