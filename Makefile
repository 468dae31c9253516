# The two commands a newcomer needs: `make test` (installs what is missing, builds, runs the suite)
# and, later, `make demo`. `make deps` installs the Debian packages.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
# libopenblas0-pthread: libtorch's CPU matrix products go through libblas.so.3; OpenBLAS makes them
# about 10x faster than Debian's reference BLAS (third_party/README.md).
DEB_PACKAGES := libtorch-dev libgloo-dev libopencv-dev nlohmann-json3-dev libsentencepiece-dev \
                libspdlog-dev catch2 python3-torch ccache cmake g++ make \
                libopenblas0-pthread

.PHONY: all deps build test clean

all: build

# Installs only what is missing, so a second `make test` does not touch apt.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: deps
	$(MAKE) build
	cd $(BUILD_DIR) && ctest --output-on-failure -j 1

clean:
	rm -rf $(BUILD_DIR)

# Benchmarks print figures (they are not tests): tokenizer speed, image pipeline, dataset index and loader.
.PHONY: bench
bench: build
	$(BUILD_DIR)/bench/bench_tokenizer ../shared/data/rwkv_vocab_v20230424.txt
	$(BUILD_DIR)/bench/bench_images ../shared/data/images
	$(BUILD_DIR)/bench/bench_data

# The whole system on synthetic shapes, on a CPU: data, tokenizer, stages 1 and 2, export, accuracy.
.PHONY: demo
demo: deps
	$(MAKE) build
	$(BUILD_DIR)/app/visualrwkv demo --out runs/demo
