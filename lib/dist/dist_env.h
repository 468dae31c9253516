// Which process of a distributed run this is, as the launcher (torchrun, Slurm, MPI) tells it.
#pragma once
#include <string>

namespace vrwkv::dist {

struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string launcher = "single";  // "torchrun", "slurm", "openmpi", "pmi" or "single"
};

// Reads, in this order of precedence:
//   torchrun:  RANK, WORLD_SIZE, LOCAL_RANK (default 0), MASTER_ADDR, MASTER_PORT
//   Slurm:     SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; MASTER_ADDR (required when more than one
//              task) and MASTER_PORT (default 29500) from the environment
//   Open MPI:  OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK
//   PMI:       PMI_RANK, PMI_SIZE, MPI_LOCALRANKID (MPICH / Intel MPI)
// and falls back to a single process. A malformed or inconsistent value is an Error naming the
// variable.
DistEnv detect_dist_env();

}  // namespace vrwkv::dist
