# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   - install into .venv and run the bridge in demo mode
#   make test   - install into .venv and run lint, types and the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint install clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/soap-bridge serve

lint: $(STAMP)
	$(BIN)/ruff check bridge tests bench
	$(BIN)/mypy

test: lint
	.ci/ensure-tools
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) state .pytest_cache .mypy_cache .ruff_cache
