# The commands a newcomer needs: `make test` (installs what is missing, builds both builds, runs the
# suite in each; CI runs exactly this) and `make demo`. `make deps` installs the packages.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
# libopenblas0-pthread: Debian's libtorch calls libblas.so.3; OpenBLAS makes its matrix products
# about 10x faster than the reference BLAS (docs/performance.md).
DEB_PACKAGES := libtorch-dev libgloo-dev libopencv-dev nlohmann-json3-dev libsentencepiece-dev \
                libspdlog-dev catch2 python3-torch python3-pip ccache cmake g++ make \
                libopenblas0-pthread

# PyTorch's own libtorch 2.x (CUDA and NCCL inside): the one GPU users have. Pinned here, and only
# here, to the GPU lab's version; installed outside the checkout so a machine downloads it once.
TORCH2_VERSION := 2.11.0
TORCH2_DIR ?= /opt/visualrwkv/torch-$(TORCH2_VERSION)
TORCH2_BUILD_DIR ?= build-torch2
# Python packages the tests read our files with (TensorBoard's own event reader), outside the
# checkout: Debian 12's pip refuses system installs. CMake's VRWKV_PYTHON_DIR points at it. The
# version is pinned (its dependencies follow pip's choice for it).
TENSORBOARD_VERSION := 2.21.0
TENSORBOARD_DIR ?= /opt/visualrwkv/python
# The CUDA compiler of the toolkit (CMake looks on PATH otherwise).
NVCC ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) nvcc)

.PHONY: all deps deps-debian deps-torch2 deps-python build build-torch2 test test-debian test-torch2 clean

all: build

deps: deps-debian deps-torch2 deps-python

# Installs only what is missing, so a second `make test` does not touch apt.
deps-debian:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The wheel and its CUDA libraries (about 4.6 GB unpacked) into TORCH2_DIR, renamed into place when
# complete, so an interrupted install is never mistaken for one.
deps-torch2: deps-debian
	@if [ ! -f $(TORCH2_DIR)/torch/share/cmake/Torch/TorchConfig.cmake ]; then \
	  echo "installing PyTorch $(TORCH2_VERSION) into $(TORCH2_DIR)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO rm -rf $(TORCH2_DIR).partial && \
	  $$SUDO /usr/bin/python3 -m pip install -q --no-cache-dir --disable-pip-version-check \
	    --target $(TORCH2_DIR).partial torch==$(TORCH2_VERSION) && \
	  $$SUDO mv $(TORCH2_DIR).partial $(TORCH2_DIR); \
	fi

# The tensorboard package into TENSORBOARD_DIR, renamed into place when complete (as deps-torch2).
deps-python: deps-debian
	@if [ ! -f $(TENSORBOARD_DIR)/tensorboard/__init__.py ]; then \
	  echo "installing tensorboard into $(TENSORBOARD_DIR)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO rm -rf $(TENSORBOARD_DIR).partial && \
	  $$SUDO /usr/bin/python3 -m pip install -q --no-cache-dir --disable-pip-version-check \
	    --target $(TENSORBOARD_DIR).partial tensorboard==$(TENSORBOARD_VERSION) && \
	  $$SUDO mv $(TENSORBOARD_DIR).partial $(TENSORBOARD_DIR); \
	fi

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVRWKV_PYTHON_DIR=$(TENSORBOARD_DIR)

# Debian's libtorch 1.13 (CPU), OpenCV, Gloo: the fast CPU build.
build: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

$(TORCH2_BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(TORCH2_BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_PREFIX_PATH=$(TORCH2_DIR)/torch -DCMAKE_CUDA_COMPILER=$(NVCC) -DVRWKV_WITH_OPENCV=OFF \
	  -DVRWKV_PYTHON_DIR=$(TENSORBOARD_DIR)

# libtorch 2.x with CUDA (kernels for sm_80 and sm_90) and NCCL, without OpenCV: what GPU users
# build, and the proof that the core needs no image decoder.
build-torch2: $(TORCH2_BUILD_DIR)/CMakeCache.txt
	cmake --build $(TORCH2_BUILD_DIR) -j $(JOBS)

test-debian:
	cd $(BUILD_DIR) && ctest --output-on-failure -j 1

test-torch2:
	cd $(TORCH2_BUILD_DIR) && ctest --output-on-failure -j 1

# Both builds, then both suites (a build is never run beside another: the machines have 2 cores).
test: deps
	$(MAKE) build
	$(MAKE) build-torch2
	$(MAKE) test-debian
	$(MAKE) test-torch2

clean:
	rm -rf $(BUILD_DIR) $(TORCH2_BUILD_DIR)

# Benchmarks print figures (they are not tests): tokenizer speed, image pipeline, dataset index and
# loader, the WKV7 kernel against a loop, the trainer's step (tiny shapes on the CPU), eval decoding
# (batched recurrent vs re-run).
.PHONY: bench
bench: build
	$(BUILD_DIR)/bench/bench_tokenizer ../shared/data/rwkv_vocab_v20230424.txt
	$(BUILD_DIR)/bench/bench_images ../shared/data/images
	$(BUILD_DIR)/bench/bench_data
	$(BUILD_DIR)/bench/bench_wkv7
	$(BUILD_DIR)/bench/bench_train_step --model configs/tiny/stage2.json --ctx 128 --device cpu --steps 3
	$(BUILD_DIR)/bench/bench_train_step --model configs/tiny-v7/stage2.json --ctx 64 --device cpu --steps 3
	$(BUILD_DIR)/bench/bench_eval --model configs/demo/stage2.json --new-tokens 128 --questions 64 --batches 1,32
	$(BUILD_DIR)/bench/bench_eval --model configs/demo-v7/stage2.json --new-tokens 128 --questions 64

# The whole system on synthetic shapes, on a CPU: data, tokenizer, stages 1 and 2, export, accuracy.
.PHONY: demo
demo: deps-debian
	$(MAKE) build
	$(BUILD_DIR)/app/visualrwkv demo --out runs/demo

# The same with VisualRWKV-7 (configs/demo-v7).
.PHONY: demo-v7
demo-v7: deps-debian
	$(MAKE) build
	$(BUILD_DIR)/app/visualrwkv demo --family v7 --out runs/demo-v7

# The first GPU run in one command (docs/performance.md): builds the CUDA variant against the
# PyTorch of `python3`, runs the kernel checks, the fixtures on CUDA, a short NCCL training run and
# the benchmark, and writes one JSON of every figure. On a machine without a GPU it runs what it can.
.PHONY: gpu-check gpu-check-prepare
gpu-check:
	TORCH2_DIR=$(TORCH2_DIR) bash tools/gpu_check.sh run

# Packs what the lab lacks (fixtures, the vocabulary, header-only dependencies) into .gpu-check/.
gpu-check-prepare:
	bash tools/gpu_check.sh prepare
