// Runs a shell command from a test: the end-to-end tests drive `visualrwkv` and Python this way.
#pragma once
#include <sys/wait.h>

#include <cstdlib>
#include <string>

namespace vrwkv::test {

// The command's exit code, or 128 + the signal that ended it (the shell's convention).
inline int run_command(const std::string& command) {
  const int status = std::system(command.c_str());
  if (status == -1) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace vrwkv::test
