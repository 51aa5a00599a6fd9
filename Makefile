# Thin wrappers around CMake. `make demo` and `make test` work on a fresh Debian 12 machine.
BUILD ?= build
JOBS ?= 2
# Compiler warnings are errors (g++ 12, Debian 12); `make WERROR=OFF ...` with another compiler.
WERROR ?= ON

.PHONY: deps build test demo bench clean fuzz test-sanitize
FUZZ_SECONDS ?= 60
CMAKE_FLAGS ?=

deps:
	@bash deploy/install-deps.sh

# Ninja (deploy/install-deps.sh installs ninja-build) for a new build folder: it starts a target's
# files as soon as the headers they need are generated, where make waits for whole targets; a
# folder configured before keeps its generator (CMake cannot change it in place).
GENERATOR = $(shell if [ -f $(BUILD)/CMakeCache.txt ]; then \
  sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' $(BUILD)/CMakeCache.txt; \
  elif command -v ninja >/dev/null; then echo Ninja; else echo "Unix Makefiles"; fi)

build: deps
	@cmake -S . -B $(BUILD) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMARTBUS_WERROR=$(WERROR) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	@bash tests/run_tests.sh $(BUILD)

demo: build
	@bash deploy/demo.sh $(BUILD)

bench: build
	@bash bench/run_bench.sh $(BUILD)

# libFuzzer targets (clang, ASan+UBSan) built in build-fuzz, each run FUZZ_SECONDS.
fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run_fuzz.sh

# The whole suite under ASan+UBSan (build-asan), then the server and store tests under TSan
# (build-tsan). Slow (two more full builds): run before a release and nightly, not per commit.
test-sanitize: deps
	@bash tests/run_sanitized.sh

clean:
	rm -rf $(BUILD)
