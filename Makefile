# Two-command quick start: `make run` and `make test`. Both create .venv and install what they need.
#
# Dependencies are locked. requirements-dev.lock (runtime + dev tools: what make installs) and
# requirements.lock (runtime only: what the Docker image installs) pin every package with its
# hashes. They are written by uv (`uv pip compile --universal`), which make installs from PyPI
# for `make lock` only: one universal resolution with environment markers serves every Python
# from 3.11 up (pip-tools resolves for the interpreter it runs on, and CI installs the same lock
# on 3.11 and 3.13), it is fast, and the result is a plain requirements file that the stock pip
# installs with --require-hashes, so installing needs nothing but Python.
# After changing dependencies in pyproject.toml run `make lock` (keeps every other pin);
# `make lock-upgrade` moves every pin to the newest release allowed. Commit both lock files.
#
# Another interpreter gets its own venv: `make test PYTHON=python3.13 VENV=.venv-3.13`.
# `make test-newest` does that with the newest Python CI runs the suite on (NEWEST_VERSION).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
UV_VERSION := 0.13.9
UV_VENV := .venv-lock
UV := $(UV_VENV)/bin/uv
PACKAGES := $(wildcard bot domain handlers faq storage notifications services)

# The newest Python the dependencies support and CI tests on: python3.13 on PATH or pyenv's 3.13.x.
NEWEST_VERSION := 3.13
NEWEST_PYTHON ?= $(firstword $(foreach candidate,python$(NEWEST_VERSION) \
	$(wildcard $(HOME)/.pyenv/versions/$(NEWEST_VERSION).*/bin/python$(NEWEST_VERSION)),\
	$(shell $(candidate) -c 'import sys; v = "%d.%d" % sys.version_info[:2]; \
	print(sys.executable if v == "$(NEWEST_VERSION)" else "")' 2>/dev/null)))

.PHONY: install run test test-newest print-newest print-newest-version check lint types bench console \
	clean lock lock-upgrade

# The venv is (re)installed when a lock file or pyproject.toml changes: the pinned packages with
# their hashes, then the project itself, editable and without resolving anything again.
$(STAMP): $(DEV_LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(DEV_LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	@$(PY) -m pip check || { echo "$(DEV_LOCK) does not satisfy pyproject.toml: run 'make lock'" >&2; exit 1; }
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m bot

console: $(STAMP)
	$(PY) -m bot console

test: $(STAMP)
	$(PY) -m pytest -q

test-newest:
	@test -n "$(NEWEST_PYTHON)" || { echo "error: Python $(NEWEST_VERSION) not found (neither python$(NEWEST_VERSION) on PATH nor ~/.pyenv/versions/$(NEWEST_VERSION).*): install it or pass NEWEST_PYTHON=/path/to/python$(NEWEST_VERSION)" >&2; exit 1; }
	$(MAKE) test PYTHON=$(NEWEST_PYTHON) VENV=.venv-$(NEWEST_VERSION)

print-newest:
	@echo $(NEWEST_PYTHON)

print-newest-version:
	@echo $(NEWEST_VERSION)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

types: $(STAMP)
	$(PY) -m mypy $(PACKAGES) fakes tests $(wildcard bench/*.py)

check: lint types test

bench: $(STAMP)
	$(PY) -m bench

$(UV):
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)

# The dev lock is resolved first; the runtime lock takes its versions from it, so the image and
# the test venv run the same releases.
LOCK_ARGS = --universal --python-version 3.11 --generate-hashes --custom-compile-command 'make lock'
lock: $(UV)
	$(UV) pip compile --quiet pyproject.toml --extra dev $(LOCK_ARGS) $(UPGRADE) -o $(DEV_LOCK)
	$(UV) pip compile --quiet pyproject.toml -c $(DEV_LOCK) $(LOCK_ARGS) -o $(LOCK)

lock-upgrade:
	$(MAKE) lock UPGRADE=--upgrade

clean:
	rm -rf $(VENV) .venv-$(NEWEST_VERSION) $(UV_VENV) .mypy_cache .ruff_cache .pytest_cache
