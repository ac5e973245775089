# The front door. `make demo` runs the main job, `make test` runs every test; both install
# the Debian packages they need first.

DEB_PACKAGES := cmake gcc make pkg-config libopenblas-dev libjansson-dev libcmocka-dev zlib1g-dev \
                libyaml-dev
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: all build deps test test-dev test-asan demo install format clean fixtures

all: build

# Installs whatever of DEB_PACKAGES is missing (nothing when all are there).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

test-dev: deps
	cmake --preset dev >/dev/null
	cmake --build --preset dev -j $(JOBS)
	ctest --preset dev -j $(JOBS)

test-asan: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS)

# Every test, in a debug build and again under the address and undefined-behaviour sanitizers.
test: test-dev test-asan

# The main job: step-by-step training of the seed blueprint on Boston housing.
demo: build
	./build/release/train_steps

install: build
	cmake --install build/release

# Regenerates the PyTorch golden fixtures (needs Debian's python3-torch).
fixtures:
	/usr/bin/python3 tools/fixtures_mlp.py
	/usr/bin/python3 tools/fixtures_kernels.py
	/usr/bin/python3 tools/fixtures_optim.py

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
