"""Fixtures of the Kubernetes backend's tests on the real control plane.

Every workspace namespace enforces Pod Security ``restricted``, as a hardened
Kubeflow profile can: a pod the backend writes that a hardened cluster would
refuse fails every test that starts one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .kube import write_config

RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}


@pytest.fixture
def namespace(cluster) -> str:
    """A fresh workspace namespace, restricted; removed after the test."""
    name = cluster.namespace("ws", labels=RESTRICTED)
    yield name
    cluster.delete_namespace(name)


@pytest.fixture
def config_file(tmp_path: Path, namespace: str) -> Path:
    """workspaces.yaml with the test catalog, fixed to ``namespace`` and the cluster's default storage class."""
    return write_config(tmp_path, namespace=namespace)
