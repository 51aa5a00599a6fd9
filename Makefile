# Thin wrappers around CMake. `make demo` and `make test` work on a fresh Debian 12 machine.
BUILD ?= build
JOBS ?= 2

.PHONY: deps build test demo bench clean

deps:
	@bash deploy/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	@bash tests/run_tests.sh $(BUILD)

demo: build
	@bash deploy/demo.sh $(BUILD)

bench: build
	@bash bench/run_bench.sh $(BUILD)

clean:
	rm -rf $(BUILD)
