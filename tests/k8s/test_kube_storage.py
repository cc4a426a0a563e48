"""Storage as documented, on the real cluster: the default class, and claims that cannot be provisioned.

The "broken" class's provisioner answers every claim with ProvisioningFailed,
as a provisioner whose pool is full does; a class that does not exist is
reported by the controller manager itself.
"""

from __future__ import annotations

import time

import pytest
from jupyterhub.spawner import SpawnException

from ..support.cluster import wait_until
from .kube import run, start, write_config

SPEC = {"image": "lab", "profile": "small"}


def failed_start(cluster, config, namespace: str) -> tuple[SpawnException, float]:
    began = time.monotonic()
    with pytest.raises(SpawnException) as info:
        run(lambda: start(config, cluster, SPEC, user="sam", server="data", start_timeout=120))
    return info.value, time.monotonic() - began


def test_without_a_class_the_claim_gets_the_clusters_default(cluster, tmp_path, namespace):
    config = write_config(tmp_path, namespace=namespace, storage_class=None)
    run(lambda: start(config, cluster, SPEC, user="sam", server="data"))
    [claim] = cluster.items("persistentvolumeclaims", namespace)
    assert claim["spec"]["storageClassName"] == "standard" and claim["status"]["phase"] == "Bound"


def test_a_named_class_is_used(cluster, tmp_path, namespace):
    config = write_config(tmp_path, namespace=namespace, storage_class="fast")
    run(lambda: start(config, cluster, SPEC, user="sam", server="data"))
    [claim] = cluster.items("persistentvolumeclaims", namespace)
    assert claim["spec"]["storageClassName"] == "fast" and claim["status"]["phase"] == "Bound"


def test_a_claim_that_cannot_be_provisioned_ends_the_start_within_seconds_naming_the_class(cluster, tmp_path, namespace):
    config = write_config(tmp_path, namespace=namespace, storage_class="broken")
    error, took = failed_start(cluster, config, namespace)
    assert took < 20, f"took {took:.1f}s"
    assert 'StorageClass "broken"' in error.jupyterhub_message
    assert "no capacity left in pool ssd-1" in error.jupyterhub_message


def test_an_unknown_class_ends_the_start_at_once_naming_it(cluster, tmp_path, namespace):
    config = write_config(tmp_path, namespace=namespace, storage_class="no-such-class")
    error, took = failed_start(cluster, config, namespace)
    assert took < 10, f"took {took:.1f}s"
    assert '"no-such-class" not found' in error.jupyterhub_message


def test_a_start_that_cannot_get_storage_leaves_neither_pod_nor_claim(cluster, tmp_path, namespace):
    """A claim that was never bound holds no data; keeping it would fail every later start the same way."""
    config = write_config(tmp_path, namespace=namespace, storage_class="no-such-class")
    failed_start(cluster, config, namespace)
    wait_until(lambda: not cluster.items("persistentvolumeclaims", namespace), 30, "the unbound claim to go")
    wait_until(lambda: not cluster.items("pods", namespace), 30, "the pod to go")
