"""Shared fixtures: real hubs on loopback, artifacts folder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .support.hub import Hub
from .support.k8s_apiserver import kubeconfig

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

# kubernetes_asyncio reads the path in $KUBECONFIG once, when it is first
# imported, and KubeSpawner insists on loading that file even when
# k8s_api_host names the server. So, before anything imports it: a valid
# kubeconfig for a dead address; each test points k8s_api_host at its stand-in.
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
