"""When the API server refuses the workspace's pod, the start ends with the server's words.

Admission refuses a create with 403 Forbidden (Pod Security here; a
ResourceQuota and a LimitRange in test_kube_quotas.py), validation with 422
Invalid. The user gets a 403 or a 400 with the server's message, not a 500
and a traceback.

All on the real cluster: the namespace enforces Pod Security "restricted",
and the 422 comes from a profile value the product passes through as it is
and the API server's validation rejects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jupyterhub.spawner import SpawnException

from spawner.kubernetes import object_name

from .kube import run, start, write_config

ROOT_IMAGE = {"id": "rooted", "display_name": "Starts as root", "image": "example.org/rooted:1", "security": {"run_as_root": True}}
# a label value with a space: the catalog takes any string, the API server only label values
BAD_SELECTOR = {"id": "bad-selector", "display_name": "Mistyped node selector", "node_selector": {"gpu.model": "H100 SXM"}}


@pytest.fixture
def config_file(tmp_path: Path, namespace: str) -> Path:
    return write_config(tmp_path, images=(ROOT_IMAGE,), profiles=(BAD_SELECTOR,), namespace=namespace)


def refused_start(cluster, config_file: Path, spec: dict[str, Any], server: str) -> SpawnException:
    with pytest.raises(SpawnException) as info:
        run(lambda: start(config_file, cluster, spec, user="ann", server=server))
    return info.value


def test_a_pod_that_pod_security_refuses_fails_the_start_with_403_naming_the_images_needs(cluster, config_file, namespace):
    error = refused_start(cluster, config_file, {"image": "rooted", "profile": "small"}, "rooted")
    assert (error.status_code, error.reason) == (403, "refused")
    message = error.jupyterhub_message
    assert f'pods "{object_name("ann", "rooted")}" is forbidden: violates PodSecurity "restricted:latest"' in message
    assert "runAsNonRoot != true" in message
    assert "image 'rooted' needs to run as root" in message
    assert cluster.items("pods", namespace) == []


def test_a_pod_the_server_finds_invalid_fails_the_start_with_400_and_its_message(cluster, config_file, namespace):
    error = refused_start(cluster, config_file, {"image": "lab", "profile": "bad-selector"}, "invalid")
    assert (error.status_code, error.reason) == (400, "refused")
    assert f'Pod "{object_name("ann", "invalid")}" is invalid: spec.nodeSelector: Invalid value: "H100 SXM"' \
        in error.jupyterhub_message
    assert cluster.items("pods", namespace) == []
