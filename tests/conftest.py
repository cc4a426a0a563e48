"""Shared fixtures: real hubs on loopback, a real Kubernetes control plane, Chromium, artifacts folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, Page, sync_playwright

from .support.cluster_fixture import Cluster
from .support.hub import Hub
from .support.k8s_apiserver import kubeconfig

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking"]

# kubernetes_asyncio reads the path in $KUBECONFIG once, when it is first
# imported, and KubeSpawner insists on loading that file even when
# k8s_api_host names the server. So, before anything imports it: a valid
# kubeconfig for a dead address. A test that makes a spawner writes the
# identity it should use into that file (tests/k8s/kube.py, use_cluster).
_KUBECONFIG = Path(tempfile.mkdtemp(prefix="workspaces-tests-")) / "kubeconfig"
_KUBECONFIG.write_text(yaml.safe_dump(kubeconfig("http://127.0.0.1:1")))
os.environ["KUBECONFIG"] = str(_KUBECONFIG)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The shared hub: local backend, test catalog, no GPUs."""
    h = Hub(tmp_path_factory.mktemp("hub"))
    try:
        yield h.start()
    finally:
        h.shutdown()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The real control plane with simulated nodes and storage, shared by the session.

    No skip: without Go the build in `make install` fails, and so does this.
    """
    c = Cluster(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # No skip: a browser test that cannot run must fail (make test installs Chromium).
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    try:
        yield context.new_page()
    finally:
        context.close()
