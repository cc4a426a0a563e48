"""Vanilla KubeSpawner runs against the stand-in: the ground the Kubernetes backend will stand on."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

import pytest
from jupyterhub.objects import Hub, Server
from traitlets.config import Config

from ..support.k8s_apiserver import ApiServerThread


@pytest.fixture
def api():
    # $KUBECONFIG is set by tests/conftest.py; k8s_api_host points at this stand-in
    with ApiServerThread() as api:
        yield api


def spawner(api, namespace: str, **traits):
    from kubespawner import KubeSpawner

    config = Config()
    config.KubeSpawner.namespace = namespace
    config.KubeSpawner.k8s_api_host = api.url
    config.KubeSpawner.start_timeout = 20
    for name, value in traits.items():
        setattr(config.KubeSpawner, name, value)
    user = SimpleNamespace(name="alice", id=1, url="/user/alice/", server=Server(), escaped_name="alice", groups=[])
    return KubeSpawner(hub=Hub(), user=user, config=config, api_token="token", oauth_client_id="jupyterhub-user-alice")


async def lifecycle(api, namespace: str, **traits) -> tuple:
    from kubespawner import KubeSpawner

    s = spawner(api, namespace, **traits)  # its API client needs a running loop
    try:
        before = await s.poll()
        url = await s.start()
        running = await s.poll()
        await s.stop()
        after = await s.poll()
        return before, url, running, after
    finally:
        await KubeSpawner._stop_all_reflectors()


def test_kubespawner_starts_polls_and_stops_a_pod(api):
    namespace = f"ns-{uuid.uuid4().hex[:6]}"  # reflectors are per namespace and process
    before, url, running, after = asyncio.run(lifecycle(api, namespace))
    assert (before, running, after) == (1, None, 1)
    assert url == "http://127.0.0.1:8888"
    calls = {(m, p) for m, p, _ in api.store.requests}
    assert ("POST", f"/api/v1/namespaces/{namespace}/pods") in calls
    assert ("DELETE", f"/api/v1/namespaces/{namespace}/pods/jupyter-alice") in calls
    assert not api.store.items("pods", namespace)


def test_kubespawner_keeps_the_pvc_on_stop(api):
    namespace = f"ns-{uuid.uuid4().hex[:6]}"
    asyncio.run(lifecycle(api, namespace, storage_pvc_ensure=True, storage_capacity="1Gi"))
    [pvc] = api.store.items("persistentvolumeclaims", namespace)
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
