# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   - install into .venv and run the bridge in demo mode
#   make test   - install into .venv and run lint, types and the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint install bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/soap-bridge serve

lint: $(STAMP)
	$(BIN)/ruff check bridge tests bench wsdl
	$(BIN)/mypy

# Four processes on two cores: the end-to-end tests mostly wait on real servers. Tests of one
# module stay in one process (--dist loadscope), so module fixtures start their servers once.
test: lint
	.ci/ensure-tools
	$(BIN)/python -m pytest -n 4 --dist loadscope

# Not part of the test suite: the performance benchmark (docs/performance.md), with
# Spyne for its peer and Debian's wrk for the load.
bench: $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	.ci/ensure-tools
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) state .pytest_cache .mypy_cache .ruff_cache
