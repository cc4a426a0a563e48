"""Attacks through the pre-puller: its pods run every catalog image on every node it suits, and it writes
DaemonSets in the hub's namespace, which other people's objects may share.

- An image's own code runs in each pull (its ``/bin/sh``): with a ServiceAccount
  token it could call the API server from every node; as root, with
  capabilities, it could attack the node. The hub's namespace usually does not
  enforce Pod Security, so these pods must not rely on it.
- A DaemonSet of the same name as one the hub wants, made by someone else, must
  not be taken over (server-side apply with force would rewrite it).

On the real control plane, in a namespace that enforces nothing; the pods are
the ones the real DaemonSet controller and the real admission plugins made.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spawner.prepuller import PLACEMENT_LABEL

from ..support.cluster import wait_until
from ..support.cluster_fixture import Cluster
from ..support.prepull import GPU_NODES, Setup


@pytest.fixture(scope="module")
def unenforced(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """The pre-puller's DaemonSets in a namespace without Pod Security enforcement, and their pods."""
    s = Setup(cluster, tmp_path_factory.mktemp("prepull-attacks"))
    s.sync()
    wait_until(lambda: len(pods(s)) == 3, 60, "a pull pod on each node")
    yield s
    cluster.delete_namespace(s.namespace)


def pods(setup: Setup) -> list[dict]:
    return [p for p in setup.cluster.items("pods", setup.namespace) if PLACEMENT_LABEL in p["metadata"].get("labels", {})]


def test_a_catalog_image_run_by_the_pre_puller_gets_no_api_token(unenforced):
    for pod in pods(unenforced):
        # the ServiceAccount admission plugin mounts a token unless the pod says no
        volumes = [v["name"] for v in pod["spec"].get("volumes", [])]
        assert not any(name.startswith("kube-api-access") for name in volumes), (pod["metadata"]["name"], volumes)
        for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
            assert not c.get("volumeMounts"), (c["name"], c.get("volumeMounts"))


def test_a_catalog_image_run_by_the_pre_puller_is_not_root_and_has_no_capabilities_where_root_is_allowed(unenforced):
    for pod in pods(unenforced):
        context = pod["spec"]["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] != 0
        for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
            assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert c["securityContext"]["allowPrivilegeEscalation"] is False


def test_a_daemon_set_of_the_same_name_that_the_hub_does_not_own_is_left_as_it_is(unenforced):
    setup = unenforced
    gpu = setup.daemon_sets()[GPU_NODES]
    name = gpu["metadata"]["name"]
    setup.cluster.admin.delete("daemonsets", name, setup.namespace)
    setup.cluster.admin.wait_gone("daemonsets", name, setup.namespace)
    theirs = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "labels": {"app": "theirs"}},
              "spec": {"selector": {"matchLabels": {"app": "theirs"}},
                       "template": {"metadata": {"labels": {"app": "theirs"}},
                                    "spec": {**gpu["spec"]["template"]["spec"], "initContainers": []}}}}
    setup.cluster.admin.create("daemonsets", theirs, setup.namespace)
    try:
        changes = setup.sync()
        assert changes.conflicts == [name] and name not in changes.created + changes.updated + changes.deleted
        after = setup.cluster.admin.get("daemonsets", name, setup.namespace)
        assert after["metadata"]["labels"] == {"app": "theirs"}
        assert after["spec"]["template"]["spec"].get("initContainers", []) == []
    finally:
        setup.cluster.admin.delete("daemonsets", name, setup.namespace)
