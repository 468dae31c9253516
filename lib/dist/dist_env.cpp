#include "dist/dist_env.h"

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "base/error.h"

namespace vrwkv::dist {
namespace {

const char* get(const char* name) {
  const char* value = std::getenv(name);
  return (value && *value) ? value : nullptr;
}

int parse_int(const char* name, const char* value) {
  errno = 0;
  char* end = nullptr;
  long parsed = std::strtol(value, &end, 10);
  VRWKV_CHECK(end != value && *end == '\0' && errno == 0 && parsed >= INT_MIN && parsed <= INT_MAX,
              "environment variable ", name, "='", value, "' is not an integer");
  return static_cast<int>(parsed);
}

int required_int(const char* name, const char* launcher) {
  const char* value = get(name);
  VRWKV_CHECK(value, "environment variable ", name, " is not set (needed to run under ", launcher, ")");
  return parse_int(name, value);
}

int optional_int(const char* name, int fallback) {
  const char* value = get(name);
  return value ? parse_int(name, value) : fallback;
}

// MASTER_ADDR is required once there are peers: guessing it (e.g. from SLURM_NODELIST) is not done.
void read_master(DistEnv& env) {
  if (const char* addr = get("MASTER_ADDR")) {
    env.master_addr = addr;
  } else if (env.world_size > 1) {
    throw Error(cat("MASTER_ADDR is not set: a ", env.launcher, " run with ", env.world_size,
                    " processes needs MASTER_ADDR (the host of rank 0, e.g. the first host of the job: "
                    "export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)) "
                    "and optionally MASTER_PORT (default 29500)"));
  }
  env.master_port = optional_int("MASTER_PORT", env.master_port);
  VRWKV_CHECK(env.master_port > 0 && env.master_port < 65536, "environment variable MASTER_PORT='",
              env.master_port, "' is not a TCP port (1..65535)");
}

// The variable names of one launcher, so every check names what was actually read.
struct Names {
  const char* launcher;
  const char* rank;
  const char* size;
  const char* local_rank;
};

DistEnv read_with(const Names& names) {
  DistEnv env;
  env.launcher = names.launcher;
  env.world_size = required_int(names.size, names.launcher);
  env.rank = required_int(names.rank, names.launcher);
  env.local_rank = optional_int(names.local_rank, 0);
  VRWKV_CHECK(env.world_size >= 1, "environment variable ", names.size, "=", env.world_size,
              " must be at least 1");
  VRWKV_CHECK(env.rank >= 0 && env.rank < env.world_size, "environment variable ", names.rank, "=",
              env.rank, " is not a valid rank for ", names.size, "=", env.world_size);
  VRWKV_CHECK(env.local_rank >= 0 && env.local_rank < env.world_size, "environment variable ",
              names.local_rank, "=", env.local_rank, " is not a valid local rank for ", names.size, "=",
              env.world_size);
  // torchrun always exports MASTER_ADDR; under Slurm and MPI the user must, when there are peers.
  read_master(env);
  return env;
}

}  // namespace

DistEnv detect_dist_env() {
  if (get("RANK") || get("WORLD_SIZE"))
    return read_with({"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"});
  if (get("SLURM_PROCID"))
    return read_with({"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"});
  if (get("OMPI_COMM_WORLD_RANK") || get("OMPI_COMM_WORLD_SIZE"))
    return read_with({"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"});
  if (get("PMI_RANK") || get("PMI_SIZE"))
    return read_with({"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"});
  return DistEnv{};
}

}  // namespace vrwkv::dist
