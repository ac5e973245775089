# The front door. `make demo` runs the main job, `make test` runs every test; both install
# the Debian packages they need first.

DEB_PACKAGES := cmake gcc make pkg-config libopenblas-dev libjansson-dev libcmocka-dev zlib1g-dev \
                libyaml-dev libsqlite3-dev libpq-dev libssl-dev libmicrohttpd-dev
# The tests also check parity with PyTorch and load Fashion-MNIST from Debian's package; the
# locale test compiles de_DE.UTF-8 with the locales package's localedef; the web UI's browser
# tests drive Debian's Chromium. (The web UI builds with the machine's Node.js and npm, 20.19 or
# later: Debian 12's own Node.js is older than Vite allows, so it is not installed from here.)
TEST_PACKAGES := python3-torch python3-numpy python3-onnx dataset-fashion-mnist clang \
                 libclang-rt-14-dev locales postgresql curl chromium fonts-dejavu-core \
                 $(if $(filter amd64,$(shell dpkg --print-architecture 2>/dev/null)),gcc-multilib)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: all build deps test-deps export-runtime install-missing test test-dev test-asan test-release demo install \
        format clean fixtures bench

all: build

# Installs whatever of DEB_PACKAGES is missing (nothing when all are there).
deps:
	@$(MAKE) --no-print-directory install-missing PACKAGES="$(DEB_PACKAGES)"

test-deps:
	@$(MAKE) --no-print-directory install-missing PACKAGES="$(DEB_PACKAGES) $(TEST_PACKAGES)"
	@$(MAKE) --no-print-directory export-runtime

# The ONNX runtime the export tests run netsmith's ONNX files with (onnxruntime-node, CPU only:
# its optional CUDA download is skipped), from tests/export/package-lock.json.
export-runtime:
	@if [ ! tests/export/node_modules/.package-lock.json -nt tests/export/package-lock.json ]; then \
	    if command -v npm >/dev/null; then \
	        cd tests/export && npm_config_onnxruntime_node_install_cuda=skip \
	            npm ci --no-audit --no-fund --loglevel=error; \
	    else echo "npm is not installed: the ONNX runtime checks of the export tests will skip"; fi; \
	fi

install-missing:
	@missing=""; for p in $(PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

test-dev: test-deps
	cmake --preset dev >/dev/null
	cmake --build --preset dev -j $(JOBS)
	ctest --preset dev -j $(JOBS)

test-asan: test-deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS)

test-release: test-deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)
	ctest --preset release -j $(JOBS)

# The tests that use threads (the context's pool, the batcher's prefetch thread, parallel
# convolutions, runs at 2 threads, pipelines, directory locks) under the thread sanitizer.
test-tsan: test-deps
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS)

# The fuzz targets (tests/fuzz: libFuzzer with the address and undefined-behaviour sanitizers,
# built with clang): a short seeded run of each over its committed corpus and regression inputs.
test-fuzz: test-deps
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS)
	ctest --preset fuzz -j $(JOBS)

# The golden and integration tests again on OpenBLAS's generic Prescott kernels (netsmith's
# own products forced there with NETSMITH_BLAS_CORE, PyTorch's with OPENBLAS_CORETYPE), which
# sum in another order than the machine's own: the numerics must hold on every correct kernel.
test-kernels: test-release
	OPENBLAS_CORETYPE=Prescott NETSMITH_BLAS_CORE=Prescott ctest --preset release -j $(JOBS) \
	    -L 'golden|integration'

# Every test: in a debug build, under the address and undefined-behaviour sanitizers, in the
# optimised build (whose hot loops also have AVX2/FMA copies picked at run time; the web UI's
# browser journeys run there), the golden and integration tests on the generic kernels, the
# threaded tests under the thread sanitizer, and the fuzz targets' short runs.
test: test-dev test-asan test-release test-kernels test-tsan test-fuzz

# Fuzzing: each target (FUZZ_TARGETS, default all) for FUZZ_SECONDS, one after the other, into
# a scratch corpus under build/fuzz/work (the committed corpora stay as they are); a finding is
# reported with its path and the command that reproduces it (tests/fuzz/run_fuzz.sh).
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=
.PHONY: test-fuzz test-kernels test-tsan fuzz
fuzz: test-deps
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS)
	bash tests/fuzz/run_fuzz.sh long build/fuzz/tests/fuzz tests/fuzz build/fuzz/work \
	    $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The main job: the seed blueprint trained on Boston housing (regression) and on wine
# (classification) with the command line, then the same blueprint step by step from the C API
# and as a pipeline of step cards.
demo: build
	rm -rf out/runs/boston out/runs/wine # a run directory holds one run's record
	./build/release/netsmith train examples/specs/seed.json --data boston_housing --seed 0 \
	    -o out/boston.safetensors --run-dir out/runs/boston
	./build/release/netsmith train examples/specs/seed.json --data wine --seed 0 \
	    -o out/wine.safetensors --run-dir out/runs/wine
	./build/release/netsmith predict out/wine.safetensors --data wine -o out/wine_predictions.csv
	./build/release/train_steps -o out/boston_steps.safetensors
	./build/release/netsmith run examples/pipelines/boston_steps.yaml --show eval

install: build
	cmake --install build/release

# Benchmarks against the reference (installs Debian's python3-pandas, python3-torch and
# python3-optuna, and BLIS, oneDNN and libxsmm for the kernel comparison, when missing): CSV
# loading against pandas.read_csv, training steps against PyTorch on five networks
# (bench/run_bench.sh), the kernel paths (bench/bench_kernels.sh) and netsmith train against the
# bare training loop (bench/bench_run.sh), the store's queue (bench/bench_store.sh), the tuner
# against Optuna (bench/bench_tune.sh), the server under load
# (bench/bench_server.sh) and the web UI in Chromium (bench/bench_web.sh); the numbers go to
# bench/RESULTS.md.
bench: build
	@$(MAKE) --no-print-directory install-missing \
	    PACKAGES="python3-pandas python3-torch python3-optuna libblis-dev libdnnl-dev libxsmm-dev postgresql chromium fonts-dejavu-core"
	bash bench/bench_csv.sh
	bash bench/run_bench.sh
	bash bench/bench_kernels.sh
	bash bench/bench_run.sh
	bash bench/bench_store.sh
	bash bench/bench_tune.sh
	bash bench/bench_server.sh
	bash bench/bench_web.sh

# Regenerates the PyTorch golden fixtures (needs Debian's python3-torch): every
# tools/fixtures_*.py (the integration.fixtures_listed test fails when one is missing here).
fixtures:
	/usr/bin/python3 tools/fixtures_mlp.py
	/usr/bin/python3 tools/fixtures_kernels.py
	/usr/bin/python3 tools/fixtures_optim.py
	/usr/bin/python3 tools/fixtures_conv.py
	/usr/bin/python3 tools/fixtures_data.py
	/usr/bin/python3 tools/fixtures_metrics.py

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build out runs
