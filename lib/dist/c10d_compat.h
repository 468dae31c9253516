// The c10d differences between libtorch 1.13 (Debian, CPU, Gloo) and 2.x (the GPU lab, NCCL).
// Only communicator.cpp includes this: the c10d headers stay out of every other translation unit.
#pragma once
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include <chrono>
#include <cstdlib>
#include <string>

#include "base/torch_compat.h"
#include "base/build_config.h"

#if VRWKV_TORCH_AT_LEAST(2, 0)
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif
#if VRWKV_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if VRWKV_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace vrwkv::compat {

// 1.13: ProcessGroupGloo / ProcessGroupNCCL derive from c10d::ProcessGroup.
// 2.x: they derive from c10d::Backend (ProcessGroup became a dispatching wrapper around backends).
// Both bases declare the same virtual collectives (broadcast, allreduce, ...) with the same
// signatures, which is all we call.
#if VRWKV_TORCH_AT_LEAST(2, 0)
using C10dBackend = c10d::Backend;
#else
using C10dBackend = c10d::ProcessGroup;
#endif

// TCPStoreOptions gained fields in 2.x (masterListenFd, useLibUV); set ours by name so both build.
inline c10d::TCPStoreOptions tcp_store_options(int port, bool is_server, int world_size,
                                               std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<std::uint16_t>(port);
  opts.isServer = is_server;
  opts.numWorkers = static_cast<std::size_t>(world_size);
  // 1.13's server stops waiting at the timeout without an error; we count arrivals ourselves.
  opts.waitWorkers = false;
  opts.timeout = timeout;
  return opts;
}

#if VRWKV_WITH_NCCL
// Without blocking wait, a NCCL timeout is handled by the watchdog thread, which tears the process
// down; with it, Work::wait throws (and the watchdog stands back), so we can report the error.
// The variable was renamed in 2.2; it is read when the process group is constructed.
inline void prefer_blocking_nccl_wait() {
#if VRWKV_TORCH_AT_LEAST(2, 2)
  setenv("TORCH_NCCL_BLOCKING_WAIT", "1", /*overwrite=*/0);
#else
  setenv("NCCL_BLOCKING_WAIT", "1", /*overwrite=*/0);
#endif
}
#endif

}  // namespace vrwkv::compat
