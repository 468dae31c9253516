// Runs a shell command from a test: the end-to-end tests drive `visualrwkv` and Python this way.
#pragma once
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace vrwkv::test {

// The command's exit code, or 128 + the signal that ended it (the shell's convention).
inline int run_command(const std::string& command) {
  const int status = std::system(command.c_str());
  if (status == -1) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Starts `command` as ranks 0 and 1 of a torchrun-style launch on this machine (MASTER_ADDR
// 127.0.0.1, `port`), `env` (e.g. "X=1 ") before both, each rank's output in <log_dir>/r<R>.log;
// waits for both and returns their exit codes as "<rank 0> <rank 1>".
inline std::string run_two_ranks(const std::string& command, const std::string& log_dir, int port,
                                 const std::string& env = "") {
  const std::string common = env + "MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " WORLD_SIZE=2 ";
  const std::string codes_file = log_dir + "/codes";
  const std::string script = "bash -c '" + common + "RANK=0 LOCAL_RANK=0 " + command + " > " + log_dir + "/r0.log" +
                             " 2>&1 & p0=$!; " + common + "RANK=1 LOCAL_RANK=1 " + command + " > " + log_dir +
                             "/r1.log 2>&1 & p1=$!; wait $p0; a=$?; wait $p1; b=$?; echo $a $b > " + codes_file + "'";
  if (run_command(script) != 0) return "launch failed";
  std::string codes;
  std::getline(std::ifstream(codes_file), codes);
  return codes;
}

}  // namespace vrwkv::test
