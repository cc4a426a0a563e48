# Workspaces: every target installs what it needs first (idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
BENCH_N ?= 3

.PHONY: install run test bench browser clean

install: $(STAMP) node_modules/.bin/configurable-http-proxy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-run pip only when the package metadata changed.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

node_modules/.bin/configurable-http-proxy: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# Chromium from Debian (never `playwright install`: it downloads from hosts we cannot reach).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium from Debian packages"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

run: install
	$(BIN)/workspaces up

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/spawn_local.py --n $(BENCH_N)
	$(BIN)/python benchmarks/cull_pass.py --n 500
	$(BIN)/python benchmarks/spawn_kube.py --n 50 --pods 5000
	$(BIN)/python benchmarks/api_list.py --n 10000

clean:
	rm -rf $(VENV) node_modules .pytest_cache test-artifacts
