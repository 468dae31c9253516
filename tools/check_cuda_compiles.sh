#!/usr/bin/env bash
# Proves on a machine without a GPU that the CUDA sources of the WKV6 and WKV7 kernels still compile:
#   1. nvcc -c lib/model/cuda/wkv6_kernels.cu, wkv7_kernels.cu (sm_90; fails on any warning or register spill)
#   2. nvcc lib/model/cuda/wkv6_cuda_selftest.cu + (1)      (an executable linked with the CUDA runtime only)
#   3. g++ -fsyntax-only lib/model/cuda/wkv6_cuda.cpp, wkv7_cuda.cpp (only where torch and CUDA headers are found)
# Outputs go to a temporary folder that is removed afterwards. Exits non-zero on any failure.
#
# Environment: NVCC (default: nvcc on PATH, else $CUDA_HOME/bin/nvcc, else /usr/local/cuda/bin/nvcc),
# CUDA_ARCH (default sm_90), TORCH_INCLUDE (default /usr/include/torch/csrc/api/include),
# ALLOW_WARNINGS=1 to pass despite compiler warnings.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/lib/model/cuda"
arch="${CUDA_ARCH:-sm_90}"

nvcc="${NVCC:-}"
if [[ -z "$nvcc" ]]; then
  if command -v nvcc > /dev/null; then
    nvcc="$(command -v nvcc)"
  elif [[ -n "${CUDA_HOME:-}" && -x "$CUDA_HOME/bin/nvcc" ]]; then
    nvcc="$CUDA_HOME/bin/nvcc"
  else
    nvcc=/usr/local/cuda/bin/nvcc
  fi
fi
if [[ ! -x "$nvcc" ]]; then
  echo "check_cuda_compiles: no nvcc found (set NVCC or CUDA_HOME)" >&2
  exit 1
fi
# nvcc may be a wrapper script (CI has /usr/local/bin/nvcc): ask nvcc itself where the CUDA headers
# are, then fall back to the usual install locations.
cuda_include=""
for dir in $("$nvcc" --dryrun -c -x cu /dev/null -o /dev/null 2>&1 | sed -n 's/.*INCLUDES="-I\([^"]*\)".*/\1/p') \
           "$(dirname "$(readlink -f "$nvcc")")/../include" "${CUDA_HOME:-/nonexistent}/include" \
           /usr/local/cuda/include; do
  if [[ -f "$dir/cuda_runtime_api.h" ]]; then
    cuda_include="$(cd "$dir" && pwd)"
    break
  fi
done
if [[ -z "$cuda_include" ]]; then
  echo "check_cuda_compiles: cuda_runtime_api.h not found next to $nvcc (set CUDA_HOME)" >&2
  exit 1
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# On a shared 2-core machine: lowest priority, one compile at a time.
run() { nice -n 10 "$@"; }

# Runs one compile step, shows its diagnostics, and fails on an error or (unless allowed) a warning.
step() {
  local what="$1"
  shift
  local log="$out/log.txt"
  if ! run "$@" > "$log" 2>&1; then
    cat "$log" >&2
    echo "FAILED: $what" >&2
    exit 1
  fi
  if [[ -s "$log" ]]; then
    cat "$log" >&2
    if [[ "${ALLOW_WARNINGS:-0}" != 1 ]]; then
      echo "FAILED: $what printed diagnostics (set ALLOW_WARNINGS=1 to accept them)" >&2
      exit 1
    fi
  fi
}

echo "nvcc: $nvcc ($("$nvcc" --version | grep -o 'release [0-9.]*'))"
nvcc_flags=(-std=c++17 -arch="$arch" -O3 -lineinfo -Xptxas=-warn-spills -Xptxas=-warn-lmem-usage
            -Xcompiler=-Wall,-Wextra)

step "wkv6_kernels.cu" "$nvcc" "${nvcc_flags[@]}" -c "$src/wkv6_kernels.cu" -o "$out/wkv6_kernels.o"
echo "compiled lib/model/cuda/wkv6_kernels.cu -> wkv6_kernels.o ($arch, $(stat -c %s "$out/wkv6_kernels.o") bytes)"
step "wkv7_kernels.cu" "$nvcc" "${nvcc_flags[@]}" -c "$src/wkv7_kernels.cu" -o "$out/wkv7_kernels.o"
echo "compiled lib/model/cuda/wkv7_kernels.cu -> wkv7_kernels.o ($arch, $(stat -c %s "$out/wkv7_kernels.o") bytes)"

step "wkv6_cuda_selftest.cu" "$nvcc" "${nvcc_flags[@]}" "$src/wkv6_cuda_selftest.cu" "$out/wkv6_kernels.o" \
  -o "$out/wkv6_cuda_selftest"
echo "compiled and linked lib/model/cuda/wkv6_cuda_selftest.cu + wkv6_kernels.o -> wkv6_cuda_selftest" \
  "($arch, CUDA runtime only, $(stat -c %s "$out/wkv6_cuda_selftest") bytes)"

torch_include="${TORCH_INCLUDE:-/usr/include/torch/csrc/api/include}"
if [[ -f "$torch_include/torch/torch.h" ]] && command -v g++ > /dev/null; then
  # Debian's CPU libtorch ships c10/cuda headers without the generated cuda_cmake_macros.h;
  # the define skips that include (a syntax check needs none of its export macros).
  for glue in wkv6_cuda.cpp wkv7_cuda.cpp; do
    step "$glue" g++ -std=c++17 -fsyntax-only -Wall -Wextra -Wno-unused-parameter \
      -DC10_USING_CUSTOM_GENERATED_MACROS -I "$root/lib" -I "$torch_include" -I "$cuda_include" "$src/$glue"
    echo "syntax-checked lib/model/cuda/$glue against the torch headers in $torch_include"
  done
else
  echo "skipped lib/model/cuda/wkv6_cuda.cpp and wkv7_cuda.cpp: no torch headers at $torch_include"
fi
echo "check_cuda_compiles: OK"
