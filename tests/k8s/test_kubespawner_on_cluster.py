"""Vanilla KubeSpawner runs on the real cluster: the ground the Kubernetes backend stands on.

It speaks as the cluster's admin: plain KubeSpawner is not the product, so
the hub's rules (config/kubernetes/rbac.yaml) are not its to meet. Its
namespace is a plain one, since its pods are not written for Pod Security
"restricted".
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from jupyterhub.objects import Hub, Server
from traitlets.config import Config

from .kube import use_cluster


@pytest.fixture
def plain_namespace(cluster) -> str:
    name = cluster.namespace("plain")
    yield name
    cluster.delete_namespace(name)


def spawner(cluster, namespace: str, **traits):
    from kubespawner import KubeSpawner

    use_cluster(cluster.admin)
    config = Config()
    config.KubeSpawner.namespace = namespace
    config.KubeSpawner.k8s_api_host = cluster.url
    config.KubeSpawner.start_timeout = 20
    for name, value in traits.items():
        setattr(config.KubeSpawner, name, value)
    user = SimpleNamespace(name="alice", id=1, url="/user/alice/", server=Server(), escaped_name="alice", groups=[])
    return KubeSpawner(hub=Hub(), user=user, config=config, api_token="token", oauth_client_id="jupyterhub-user-alice")


def lifecycle(cluster, namespace: str, **traits) -> tuple:
    """Poll, start, poll, stop, poll; the answers, the URL and the pod the server held while it ran."""

    async def go():
        from kubespawner import KubeSpawner

        s = spawner(cluster, namespace, **traits)  # its API client needs a running loop
        try:
            before = await s.poll()
            url = await s.start()
            running = await s.poll()
            pod = cluster.admin.find("pods", s.pod_name, namespace)
            await s.stop()
            after = await s.poll()
            return before, url, running, after, pod
        finally:
            await KubeSpawner._stop_all_reflectors()

    return asyncio.run(go())


def test_kubespawner_starts_polls_and_stops_a_pod(cluster, plain_namespace):
    before, url, running, after, pod = lifecycle(cluster, plain_namespace)
    assert (before, running, after) == (1, None, 1)
    assert url == "http://127.0.0.1:8888"  # the simulated kubelet gives pods this address
    assert pod["metadata"]["name"] == "jupyter-alice" and pod["status"]["phase"] == "Running"
    assert cluster.items("pods", plain_namespace) == []


def test_kubespawner_keeps_the_pvc_on_stop(cluster, plain_namespace):
    lifecycle(cluster, plain_namespace, storage_pvc_ensure=True, storage_capacity="1Gi")
    [pvc] = cluster.items("persistentvolumeclaims", plain_namespace)
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
