# The packages every build needs, found as installed packages (Debian's, CI) or, where a machine has
# none (the GPU lab: PyTorch and CUDA only), as copies that `tools/gpu_check.sh prepare` packs into
# .gpu-check/deps and puts on CMAKE_PREFIX_PATH: header-only nlohmann/json, spdlog + fmt compiled
# header-only, Catch2's static library. Nothing is downloaded.
# Ampere (A100) and Hopper (H100, H200) machine code for our CUDA kernels; "90" alone builds faster
# in the lab. Torch's CMake config reads the same list as TORCH_CUDA_ARCH_LIST ("8.0;9.0").
set(VRWKV_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures of the WKV6 kernels")
if(NOT DEFINED TORCH_CUDA_ARCH_LIST)
  string(REGEX REPLACE "([0-9])([0-9])" "\\1.\\2" TORCH_CUDA_ARCH_LIST "${VRWKV_CUDA_ARCHITECTURES}")
endif()
find_package(Torch REQUIRED)
find_package(Threads REQUIRED)

find_package(nlohmann_json QUIET)
if(NOT nlohmann_json_FOUND)
  find_path(VRWKV_JSON_INCLUDE nlohmann/json.hpp REQUIRED)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  target_include_directories(nlohmann_json::nlohmann_json INTERFACE ${VRWKV_JSON_INCLUDE})
  message(STATUS "nlohmann/json: headers in ${VRWKV_JSON_INCLUDE}")
endif()

find_package(spdlog QUIET)
if(spdlog_FOUND)
  get_target_property(VRWKV_FMT_INCLUDE fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
else()
  find_path(VRWKV_SPDLOG_INCLUDE spdlog/spdlog.h REQUIRED)
  # The fmt beside these spdlog headers (the one they were written for), not libtorch's.
  find_path(VRWKV_FMT_INCLUDE fmt/format.h HINTS ${VRWKV_SPDLOG_INCLUDE} NO_DEFAULT_PATH REQUIRED)
  add_library(spdlog::spdlog INTERFACE IMPORTED)
  target_include_directories(spdlog::spdlog INTERFACE ${VRWKV_SPDLOG_INCLUDE} ${VRWKV_FMT_INCLUDE})
  target_compile_definitions(spdlog::spdlog INTERFACE SPDLOG_HEADER_ONLY SPDLOG_FMT_EXTERNAL FMT_HEADER_ONLY)
  message(STATUS "spdlog: header-only, headers in ${VRWKV_SPDLOG_INCLUDE}")
endif()
# libtorch 2.x ships fmt 12 headers in its include folder, which the compiler would search before
# the system's, and Debian's spdlog 1.10 does not compile with them. A folder holding only spdlog's
# own fmt goes on every target's -I path (searched before the -isystem dirs of libtorch); the two
# fmt versions live in different inline namespaces (fmt::v9, fmt::v12), so they never collide.
set(VRWKV_SPDLOG_FMT_DIR ${CMAKE_BINARY_DIR}/spdlog_fmt)
file(MAKE_DIRECTORY ${VRWKV_SPDLOG_FMT_DIR})
if(NOT EXISTS ${VRWKV_SPDLOG_FMT_DIR}/fmt)
  file(CREATE_LINK ${VRWKV_FMT_INCLUDE}/fmt ${VRWKV_SPDLOG_FMT_DIR}/fmt SYMBOLIC)
endif()

# OpenCV decodes images in data_loaders/images/ only (and draws the demo's pictures, app/demo/).
# Required unless the build says it has none (the GPU lab, and CI's libtorch 2.x build, which is
# the build that proves the core runs without it).
option(VRWKV_WITH_OPENCV "decode images with OpenCV (data_loaders/images/)" ON)
if(VRWKV_WITH_OPENCV)
  find_package(OpenCV REQUIRED COMPONENTS core imgcodecs imgproc)
endif()

# libsentencepiece is loaded at run time through a module of its own (lib/text/spm_shim.cpp).
option(VRWKV_WITH_SENTENCEPIECE "build the sentencepiece tokenizer module" ON)
if(VRWKV_WITH_SENTENCEPIECE)
  find_path(SENTENCEPIECE_INCLUDE_DIR sentencepiece_processor.h REQUIRED)
  find_library(SENTENCEPIECE_LIBRARY sentencepiece REQUIRED)
  find_library(SENTENCEPIECE_TRAIN_LIBRARY sentencepiece_train REQUIRED)
endif()

# CUDA: when libtorch was built with it (PyTorch's own libtorch 2.x); Debian's 1.13 is CPU only.
if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA)
  set(VRWKV_WITH_CUDA ON)
else()
  set(VRWKV_WITH_CUDA OFF)
endif()

# c10d backends. libtorch's targets define USE_C10D_GLOO / USE_C10D_NCCL when it was built with
# them; using them also needs their headers. PyTorch's wheel ships no gloo/ headers (Gloo is linked
# into libtorch_cpu), so Gloo is used only where the headers come with that libtorch (Debian's
# libtorch and libgloo-dev are one build); NCCL's header comes with the wheel's nvidia-nccl package.
get_target_property(VRWKV_TORCH_DEFINES torch_cpu INTERFACE_COMPILE_DEFINITIONS)
if(NOT VRWKV_TORCH_DEFINES)
  set(VRWKV_TORCH_DEFINES "")
endif()
set(VRWKV_WITH_GLOO OFF)
if("USE_C10D_GLOO" IN_LIST VRWKV_TORCH_DEFINES OR EXISTS "${TORCH_INSTALL_PREFIX}/include/torch/csrc/distributed/c10d/ProcessGroupGloo.hpp")
  if(EXISTS "${TORCH_INSTALL_PREFIX}/include/gloo/algorithm.h" OR TORCH_INSTALL_PREFIX STREQUAL "/usr")
    set(VRWKV_WITH_GLOO ON)
  endif()
endif()
set(VRWKV_WITH_NCCL OFF)
if(VRWKV_WITH_CUDA AND TARGET torch_cuda)
  get_target_property(VRWKV_TORCH_CUDA_DEFINES torch_cuda INTERFACE_COMPILE_DEFINITIONS)
  if(VRWKV_TORCH_CUDA_DEFINES AND "USE_C10D_NCCL" IN_LIST VRWKV_TORCH_CUDA_DEFINES)
    # The header NCCL was built with: the wheel's nvidia/nccl package, else the system's.
    find_path(VRWKV_NCCL_INCLUDE nccl.h
              HINTS "${TORCH_INSTALL_PREFIX}/../nvidia/nccl/include" "${TORCH_INSTALL_PREFIX}/../nvidia/cu13/include"
              PATHS /usr/include /usr/local/cuda/include NO_DEFAULT_PATH)
    if(NOT VRWKV_NCCL_INCLUDE)
      message(FATAL_ERROR "libtorch has NCCL (USE_C10D_NCCL) but nccl.h was not found beside it "
                          "(${TORCH_INSTALL_PREFIX}/../nvidia/nccl/include) nor in /usr/include")
    endif()
    set(VRWKV_WITH_NCCL ON)
  endif()
endif()
message(STATUS "libtorch ${Torch_VERSION} at ${TORCH_INSTALL_PREFIX}: CUDA ${VRWKV_WITH_CUDA}, "
               "Gloo ${VRWKV_WITH_GLOO}, NCCL ${VRWKV_WITH_NCCL}; OpenCV ${VRWKV_WITH_OPENCV}")

# 0 / 1 for lib/base/build_config.h.in.
foreach(feature CUDA NCCL GLOO OPENCV SENTENCEPIECE)
  if(VRWKV_WITH_${feature})
    set(VRWKV_WITH_${feature}_01 1)
  else()
    set(VRWKV_WITH_${feature}_01 0)
  endif()
endforeach()
