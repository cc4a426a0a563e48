"""Where a workspace goes, what its spec refers to, how many watches the hub holds, and finding pods again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import requests
from tornado import web

from spawner.kubernetes import object_name

from ..support.k8s_apiserver import ApiServerThread
from ..support.kubeflow_objects import profile
from .kube import assert_valid_objects, make_spawner, ours, run, start, write_config


@pytest.fixture
def api():
    with ApiServerThread() as api:
        yield api


def post(api, path: str, body: dict) -> dict:
    r = requests.post(api.url + path, json=body, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


def writes(api) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in api.store.requests if m in ("POST", "PUT", "PATCH", "DELETE")]


def refused(config_file: Path, api, spec: dict, **kwargs) -> web.HTTPError:
    async def go():
        s = make_spawner(config_file, api.url, **kwargs)
        s.apply_spec(spec)
        with pytest.raises(web.HTTPError) as info:
            await s.start()
        return info.value

    return run(go)


# -- namespaces without Kubeflow ---------------------------------------------------------


def test_a_namespace_template_gives_each_user_a_namespace_created_once(tmp_path, api):
    config = write_config(tmp_path, namespace_template="ws-{username}")

    async def two():
        first = await start(config, api.url, {"image": "lab"}, user="bob", server="a")
        second = await start(config, api.url, {"image": "lab"}, user="bob", server="b")
        return first.namespace, second.namespace

    assert run(two) == ("ws-bob", "ws-bob")
    [namespace] = api.store.items("namespaces", None)
    assert namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workspaces"
    assert [p for m, p in writes(api) if p == "/api/v1/namespaces"] == ["/api/v1/namespaces"]
    assert assert_valid_objects(api) == 5  # the namespace, two pods, two PVCs


def test_an_existing_namespace_is_used_as_it_is(tmp_path, api):
    config = write_config(tmp_path, namespace_template="ws-{username}")
    existing = post(api, "/api/v1/namespaces", {"metadata": {"name": "ws-bob", "labels": {"team": "ml"}}})
    run(lambda: start(config, api.url, {"image": "lab"}, user="bob"))
    assert ("POST", "/api/v1/namespaces") in writes(api)  # answered 409
    [namespace] = api.store.items("namespaces", None)
    assert namespace["metadata"]["labels"] == {"team": "ml"}
    assert namespace["metadata"]["resourceVersion"] == existing["metadata"]["resourceVersion"]


def test_another_users_namespace_is_refused_with_a_template(tmp_path, api):
    config = write_config(tmp_path, namespace_template="ws-{username}")
    error = refused(config, api, {"image": "lab", "namespace": "ws-carol"}, user="bob")
    assert error.status_code == 403
    assert "your workspaces run in 'ws-bob' here; 'ws-carol' is not allowed" in error.log_message
    assert writes(api) == []


def test_a_fixed_namespace_refuses_any_other(tmp_path, api):
    config = write_config(tmp_path, namespace="shared")
    error = refused(config, api, {"image": "lab", "namespace": "elsewhere"}, user="bob")
    assert error.status_code == 400
    assert "workspaces run in 'shared' here" in error.log_message
    assert writes(api) == []


# -- data volumes and PodDefaults ----------------------------------------------------------


@pytest.fixture
def namespace_with_things(tmp_path, api) -> Path:
    config = write_config(tmp_path, namespace="team")
    post(api, "/api/v1/namespaces/team/persistentvolumeclaims", {
        "metadata": {"name": "datasets"},
        "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "1Ti"}}},
    })
    for name, labels in (("s3-access", {"s3-access": "true"}), ("ml-pipeline", {"access-ml-pipeline": "true"})):
        post(api, "/apis/kubeflow.org/v1alpha1/namespaces/team/poddefaults", {
            "apiVersion": "kubeflow.org/v1alpha1",
            "kind": "PodDefault",
            "metadata": {"name": name},
            "spec": {"desc": name, "selector": {"matchLabels": labels}, "env": [{"name": "X", "value": "1"}]},
        })
    return config


def test_a_data_volume_mounts_an_existing_claim(namespace_with_things, api):
    spec = {"image": "lab", "volumes": [{"claim": "datasets", "mount_path": "/data", "read_only": True}]}
    run(lambda: start(namespace_with_things, api.url, spec))
    [pod] = ours(api, "pods")
    assert {"name": "data-0", "persistentVolumeClaim": {"claimName": "datasets", "readOnly": True}} in pod["spec"]["volumes"]


def test_a_missing_data_volume_is_refused_before_anything_is_created(namespace_with_things, api):
    requests_before = len(writes(api))
    error = refused(namespace_with_things, api, {"image": "lab", "volumes": [{"claim": "nope", "mount_path": "/d"}]})
    assert error.status_code == 400
    assert error.log_message == "volumes[0].claim: no PersistentVolumeClaim 'nope' in namespace 'team'; existing: datasets"
    assert len(writes(api)) == requests_before


def test_pod_defaults_put_their_selector_labels_on_the_pod(namespace_with_things, api):
    run(lambda: start(namespace_with_things, api.url, {"image": "lab", "pod_defaults": ["s3-access", "ml-pipeline"]}))
    [pod] = ours(api, "pods")
    assert pod["metadata"]["labels"]["s3-access"] == "true"
    assert pod["metadata"]["labels"]["access-ml-pipeline"] == "true"
    assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workspaces"


def test_an_unknown_pod_default_is_refused_naming_the_available_ones(namespace_with_things, api):
    requests_before = len(writes(api))
    error = refused(namespace_with_things, api, {"image": "lab", "pod_defaults": ["gcs"]})
    assert error.status_code == 400
    assert error.log_message == "pod_defaults[0]: no PodDefault 'gcs' in namespace 'team'; available: ml-pipeline, s3-access"
    assert len(writes(api)) == requests_before


# -- Istio --------------------------------------------------------------------------------------


def test_istio_gives_each_workspace_a_service_and_waits_for_its_sidecar(tmp_path, api):
    config = write_config(tmp_path, istio=True)
    run(lambda: start(config, api.url, {"image": "lab"}, user="bob", server="mesh"))
    [pod] = ours(api, "pods")
    annotations = pod["metadata"]["annotations"]
    assert annotations["sidecar.istio.io/inject"] == "true"
    assert '"holdApplicationUntilProxyStarts": true' in annotations["proxy.istio.io/config"]
    [service] = ours(api, "services")
    assert service["metadata"]["name"] == object_name("bob", "mesh")
    assert service["spec"]["ports"][0]["name"] == "http"  # Istio picks the protocol by port name
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert assert_valid_objects(api) == 3


# -- watches ------------------------------------------------------------------------------------


def test_the_hub_holds_two_watches_however_many_profile_namespaces(tmp_path, api):
    config = write_config(tmp_path, kubeflow=True)
    users = [f"user{i}@example.com" for i in range(50)]
    for i, user in enumerate(users):
        post(api, "/apis/kubeflow.org/v1/profiles", profile(f"team-{i}", user))

    async def everywhere():
        spawners = await asyncio.gather(*(start(config, api.url, {"image": "lab"}, user=u, server="w") for u in users))
        await asyncio.sleep(0.2)
        return {s.namespace for s in spawners}, api.store.watches_open

    namespaces, watches = run(everywhere)
    assert len(namespaces) == 50
    assert watches == 2
    watched = {p for m, p, q in api.store.requests if "watch=" in q.lower()}
    assert watched == {"/api/v1/pods", "/api/v1/events"}


# -- after a hub restart ----------------------------------------------------------------------


def test_a_running_workspace_is_found_again_from_its_saved_state(tmp_path, api):
    config = write_config(tmp_path, kubeflow=True)
    post(api, "/apis/kubeflow.org/v1/profiles", profile("bob", "bob"))

    async def restart():
        from spawner.kubernetes import KubeWorkspaceSpawner

        first = await start(config, api.url, {"image": "lab"}, user="bob", server="w")
        state = first.get_state()
        await KubeWorkspaceSpawner._stop_all_reflectors()  # the old hub is gone
        again = make_spawner(config, api.url, user="bob", server="w")
        again.load_state(state)
        return await again.poll(), again.namespace

    assert run(restart) == (None, "bob")


def test_a_pod_whose_namespace_was_never_saved_is_found_and_stopped(tmp_path, api):
    # the hub died between creating the pod and saving the state
    config = write_config(tmp_path, kubeflow=True)
    post(api, "/apis/kubeflow.org/v1/profiles", profile("bob", "bob"))

    async def orphan():
        from spawner.kubernetes import KubeWorkspaceSpawner

        await start(config, api.url, {"image": "lab"}, user="bob", server="w")
        await KubeWorkspaceSpawner._stop_all_reflectors()
        again = make_spawner(config, api.url, user="bob", server="w")
        again.load_state({})
        status = await again.poll()
        await again.stop(now=True)
        return status

    assert run(orphan) is None
    assert ours(api, "pods") == []
