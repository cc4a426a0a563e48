"""What a user writes in the spec reaches the pod as written.

KubeSpawner expands ``{username}``-style fields with ``str.format`` in labels,
annotations, volumes and volume mounts. A user's mount path is not a template:
``/data/{team}`` must not fail the start (KeyError, after the PVC was made)
and ``/data/{username}`` must not become the user's name. The same holds for
what the cluster gives, such as a PodDefault's selector labels.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from jupyterhub.spawner import SpawnException

from .kube import manifests, run, start, write_config
from .test_kube_placement import SHARED, add_pod_default


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("literal"))


@pytest.mark.parametrize("mount_path", ["/data/{team}", "/data/{username}", "/data/{{x}}", "/data/}{"])
def test_a_mount_path_with_braces_is_mounted_exactly_there(config_file, mount_path):
    spec = {"image": "lab", "profile": "small", "volumes": [{"claim": "datasets", "mount_path": mount_path}]}
    pod, _ = manifests(config_file, spec)
    [container] = pod["spec"]["containers"]
    assert {"name": "data-0", "mountPath": mount_path, "readOnly": False} in container["volumeMounts"]


@pytest.mark.parametrize("value", ["{team}", "{username}"])
def test_a_pod_defaults_selector_reaches_the_server_as_written(tmp_path, cluster, namespace, value):
    # a label value with braces is not one Kubernetes accepts: the API server, not a KeyError, says so
    # (expanded, "{username}" would have become a valid value)
    add_pod_default(cluster, namespace, "odd", {"matchLabels": {"odd": value}}, SHARED)
    with pytest.raises(SpawnException) as info:
        run(lambda: start(write_config(tmp_path, namespace=namespace), cluster, {"image": "lab", "pod_defaults": ["odd"]}))
    assert info.value.status_code == 400  # the spec asked for it
    assert f'metadata.labels: Invalid value: "{value}"' in info.value.jupyterhub_message
