#include "apps/args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "engine/error.h"

namespace taper::app {

namespace {

// "--name" or "--name=value"; negative numbers ("-1", "-0.5") are values.
bool looks_like_flag(const std::string& a) { return a.size() > 2 && a.compare(0, 2, "--") == 0; }

}  // namespace

Args::Args(int argc, char** argv, const std::set<std::string>& switches) : command_(argv[0]) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      help_ = true;
      continue;
    }
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string name = a, value;
      bool inline_value = false;
      if (auto eq = a.find('='); eq != std::string::npos) {
        name = a.substr(0, eq);
        value = a.substr(eq + 1);
        inline_value = true;
      }
      if (values_.count(name) || switches_given_.count(name) || no_value_.count(name))
        fail("flag ", name, " is given twice");
      if (switches.count(name)) {
        if (inline_value) fail("flag ", name, " takes no value");
        switches_given_.insert(name);
        continue;
      }
      if (!inline_value) {
        // Missing values are reported when the command reads the flag, so
        // that a misspelt flag at the end is called unknown, not valueless;
        // a following flag is never taken as the value.
        if (i + 1 >= argc || looks_like_flag(argv[i + 1])) {
          no_value_.insert(name);
          continue;
        }
        value = argv[++i];
      }
      values_[name] = value;
    } else if (a.size() > 1 && a[0] == '-' && !std::isdigit(static_cast<unsigned char>(a[1]))) {
      fail("unknown option '", a, "' (flags are written --name)");
    } else {
      positional_.push_back(a);
    }
  }
}

bool Args::flag(const std::string& name) {
  read_.insert(name);
  return switches_given_.count(name) > 0;
}

std::optional<std::string> Args::get(const std::string& name) {
  read_.insert(name);
  if (no_value_.count(name)) fail("flag ", name, " needs a value");
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::get_or(const std::string& name, const std::string& fallback) {
  auto v = get(name);
  return v ? *v : fallback;
}

int64_t Args::get_int(const std::string& name, int64_t fallback, int64_t lo, int64_t hi) {
  auto v = get(name);
  return v ? parse_int(*v, name, lo, hi) : fallback;
}

double Args::get_double(const std::string& name, double fallback, double lo, double hi) {
  auto v = get(name);
  return v ? parse_double(*v, name, lo, hi) : fallback;
}

void Args::expect_positional(size_t n, const std::string& what) const {
  if (positional_.size() < n) fail("missing ", what, " (see 'taper ", command_, " --help')");
  if (positional_.size() > n) fail("unexpected argument '", positional_[n], "'");
}

void Args::finish() const {
  for (const auto& [name, value] : values_)
    if (!read_.count(name)) fail("unknown flag ", name, " for 'taper ", command_, "' (see --help)");
  for (const auto& name : switches_given_)
    if (!read_.count(name)) fail("unknown flag ", name, " for 'taper ", command_, "' (see --help)");
  for (const auto& name : no_value_)
    if (!read_.count(name)) fail("unknown flag ", name, " for 'taper ", command_, "' (see --help)");
}

int64_t parse_int(const std::string& text, const std::string& what, int64_t lo, int64_t hi) {
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || std::isspace(static_cast<unsigned char>(text[0])))
    fail(what, ": expected an integer, got '", text, "'");
  if (v < lo || v > hi) fail(what, ": ", v, " is out of range [", lo, ", ", hi, "]");
  return v;
}

double parse_double(const std::string& text, const std::string& what, double lo, double hi) {
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v) ||
      std::isspace(static_cast<unsigned char>(text[0])))
    fail(what, ": expected a number, got '", text, "'");
  if (v < lo || v > hi) fail(what, ": ", v, " is out of range [", lo, ", ", hi, "]");
  return v;
}

}  // namespace taper::app
