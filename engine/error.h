// taper::Error — the one exception type for bad user input.
//
// The library never aborts or exits on a user's file, flag or JSON key: it
// throws Error with a message that names the thing and says what was expected.
// Only apps/ catches it, prints the message and exits with code 2.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace taper {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Builds a message from any streamable pieces: fail("layer '", name, "': ...").
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw Error(os.str());
}

// check(cond, pieces...) throws Error(pieces) when cond is false. The pieces
// are evaluated before the call: in a hot path, write
// `if (!cond) fail(...)` so that a message is only built on failure.
template <typename... Parts>
void check(bool condition, const Parts&... parts) {
  if (!condition) fail(parts...);
}

}  // namespace taper
