"""Workspace pods meet Pod Security "restricted" by default, and their home volume is writable.

The defaults are zero-to-jupyterhub's: the server runs as uid 1000 (jovyan)
in group 100, and fsGroup 100 makes a freshly provisioned volume writable by it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .kube import manifests, write_config
from .pod_security import restricted_violations

SPEC = {"image": "lab", "profile": "small"}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("pod-security"))


def test_a_workspace_pod_meets_pod_security_restricted(config_file):
    pod, _ = manifests(config_file, SPEC)
    assert restricted_violations(pod) == []


def test_the_pod_runs_as_jovyan_and_its_volumes_belong_to_the_users_group(config_file):
    pod, _ = manifests(config_file, SPEC)
    assert pod["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 100,
        "fsGroup": 100,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_every_container_drops_all_capabilities_and_cannot_gain_privileges(config_file):
    pod, _ = manifests(config_file, SPEC)
    containers = [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]
    assert [c["securityContext"] for c in containers] == [
        {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    ]
