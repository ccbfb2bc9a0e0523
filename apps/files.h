// Small file helpers shared by the commands that write run folders
// (train, sweep, report, export): what a user saved is never half-written.
#pragma once

#include <string>

namespace taper::app {

bool file_exists(const std::string& path);
// Creates the folder and its parents (like mkdir -p); Error when it cannot.
void make_dirs(const std::string& path);
// Writes `text` to PATH.tmp, flushes it to disk and renames it over `path`,
// so a reader sees the old file or the new one, never a part. Error (the old
// file untouched, the temporary removed) when anything fails, e.g. a full disk.
void write_file_atomic(const std::string& path, const std::string& text);

// The path of the running program (/proc/self/exe resolved), so that a
// re-executed or child taper keeps its name ("taper") in ps and pgrep;
// "/proc/self/exe" itself when it cannot be resolved.
std::string self_executable();

}  // namespace taper::app
