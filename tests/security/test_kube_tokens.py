"""Attacks on a workspace's hub token on Kubernetes: whoever may read pods must not get it.

A workspace's server holds an API token that acts as its owner. KubeSpawner
writes it into the pod's environment, so anyone who may ``get pods`` in the
namespace (a Kubeflow ``view`` contributor, by Kubernetes' own ``view`` role)
could read it and run code in the owner's workspace. It lives in a Secret of
its own now, which ``view`` does not grant, owned by the pod.

On the real control plane, as the hub's ServiceAccount with the rules of
config/kubernetes/rbac.yaml; the attacker is a contributor, impersonated.
"""

from __future__ import annotations

import base64
import json
import secrets

import pytest
from jupyterhub.spawner import SpawnException

from ..k8s.conftest import RESTRICTED
from ..k8s.kube import Kubeflow, make_spawner, run, start, unique, write_config
from ..support.cluster import KubeError, wait_until

SPEC = {"image": "lab", "profile": "small"}


async def start_with_a_token(config, cluster, user: str, server: str):
    """A start with a token as the hub makes them (the test spawner's own is one letter)."""
    s = make_spawner(config, cluster, user=user, server=server)
    s.api_token = secrets.token_hex(16)
    s.apply_spec(SPEC)
    await s.start()
    return s


@pytest.fixture
def profile_with_viewer(cluster, tmp_path):
    """A Kubeflow profile of its owner, where a viewer is a contributor with the view role."""
    kubeflow = Kubeflow(cluster, RESTRICTED)
    owner, viewer = f"{unique('owner')}@example.com", f"{unique('viewer')}@example.com"
    try:
        namespace = kubeflow.profile("victim", owner)
        kubeflow.contributor(namespace, viewer, "view")
        yield namespace, owner, viewer, write_config(tmp_path, kubeflow=True)
    finally:
        kubeflow.remove()


def test_a_view_contributor_can_read_the_workspace_pod_but_not_its_token(cluster, profile_with_viewer):
    namespace, owner, viewer, config = profile_with_viewer
    s = run(lambda: start_with_a_token(config, cluster, owner, "secret"))
    attacker = cluster.admin.as_user(viewer)
    [pod] = attacker.list("pods", namespace)  # view: pods, their specs and statuses
    assert s.api_token not in json.dumps(pod)
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == s.token_secret
    with pytest.raises(KubeError) as refused:
        attacker.get("secrets", s.token_secret, namespace)
    assert refused.value.code == 403


def test_the_token_secret_holds_this_starts_token_and_is_owned_by_its_pod(cluster, config_file, namespace):
    s = run(lambda: start_with_a_token(config_file, cluster, "tess", "own"))
    secret = cluster.admin.get("secrets", s.token_secret, namespace)
    pod = cluster.admin.get("pods", s.pod_name, namespace)
    assert base64.b64decode(secret["data"]["token"]).decode() == s.api_token
    assert [(o["kind"], o["uid"]) for o in secret["metadata"]["ownerReferences"]] == [("Pod", pod["metadata"]["uid"])]


def test_whatever_removes_the_pod_removes_its_token_secret(cluster, config_file, namespace):
    """An admin or a node drain deletes the pod, not the hub: the garbage collector takes the Secret along."""
    s = run(lambda: start(config_file, cluster, SPEC, user="tess", server="drained"))
    cluster.admin.delete("pods", s.pod_name, namespace)
    cluster.admin.wait_gone("secrets", s.token_secret, namespace)


def test_stop_removes_the_token_secret_and_the_next_start_writes_a_new_one(cluster, config_file, namespace):
    async def stop_and_start():
        s = await start(config_file, cluster, SPEC, user="tess", server="again")
        first = s.api_token
        await s.stop()
        gone = cluster.admin.find("secrets", s.token_secret, namespace) is None
        s.api_token = "a-token-of-the-next-start"  # the hub gives every start a new one
        s.apply_spec(SPEC)
        await s.start()
        return s, first, gone

    s, first, gone_after_stop = run(stop_and_start)
    assert gone_after_stop
    secret = cluster.admin.get("secrets", s.token_secret, namespace)
    assert base64.b64decode(secret["data"]["token"]).decode() == "a-token-of-the-next-start" != first


def test_a_start_the_cluster_refuses_leaves_no_token_secret(cluster, config_file, namespace):
    cluster.admin.create("resourcequotas", {"metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}}, namespace)
    wait_until(lambda: cluster.admin.get("resourcequotas", "no-pods", namespace).get("status", {}).get("hard"), 30, "quota status")
    with pytest.raises(SpawnException) as refused:
        run(lambda: start(config_file, cluster, SPEC, user="tess", server="refused"))
    assert "exceeded quota: no-pods" in refused.value.jupyterhub_message
    assert cluster.admin.list("secrets", namespace, labelSelector="app.kubernetes.io/managed-by=workspaces") == []
