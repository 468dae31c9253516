// Whole-file writes that a crash cannot leave half done: the text goes to "<path>.tmp.<pid>", is
// fsync'd and renamed over `path`, so readers see the old file or the complete new one.
#pragma once
#include <string>

namespace vrwkv {

void write_file_atomically(const std::string& path, const std::string& contents);

// Flushes a written file's contents to the disk (fsync) before the caller renames it into place.
void fsync_file(const std::string& path);

}  // namespace vrwkv
