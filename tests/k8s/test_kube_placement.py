"""Where a workspace goes, what its spec refers to, how many watches the hub holds, and finding pods again."""

from __future__ import annotations

import asyncio
import json
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


def test_a_namespace_template_gives_each_user_one_namespace(tmp_path, api):
    config = write_config(tmp_path, namespace_template="ws-{username}")

    async def two():
        first = await start(config, api.url, {"image": "lab"}, user="bob", server="a")
        second = await start(config, api.url, {"image": "lab"}, user="bob", server="b")
        return first.namespace, second.namespace

    assert run(two) == ("ws-bob", "ws-bob")
    [namespace] = api.store.items("namespaces", None)
    assert namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workspaces"
    assert assert_valid_objects(api) == 5  # the namespace, two pods, two PVCs


def test_an_existing_namespace_is_used_as_it_is(tmp_path, api):
    config = write_config(tmp_path, namespace_template="ws-{username}")
    existing = post(api, "/api/v1/namespaces", {"metadata": {"name": "ws-bob", "labels": {"team": "ml"}}})
    run(lambda: start(config, api.url, {"image": "lab"}, user="bob"))
    assert ("POST", "/api/v1/namespaces") in writes(api)  # answered 409
    [namespace] = api.store.items("namespaces", None)
    assert namespace["metadata"]["labels"] == {"team": "ml"}
    assert namespace["metadata"]["resourceVersion"] == existing["metadata"]["resourceVersion"]


def test_a_long_user_name_still_makes_a_valid_namespace(tmp_path, api):
    config = write_config(tmp_path, namespace_template="workspaces-{username}")
    user = "a.very.long.name.of.somebody@a-department.example.com"
    namespace = run(lambda: start(config, api.url, {"image": "lab"}, user=user)).namespace
    assert len(namespace) <= 63 and namespace.startswith("workspaces-")
    assert assert_valid_objects(api) == 3


def test_a_namespace_deleted_meanwhile_is_made_again(tmp_path, api):
    config = write_config(tmp_path, namespace_template="ws-{username}")
    run(lambda: start(config, api.url, {"image": "lab"}, user="bob", server="a"))
    assert requests.delete(f"{api.url}/api/v1/namespaces/ws-bob", timeout=10).status_code == 200
    run(lambda: start(config, api.url, {"image": "lab"}, user="bob", server="b"))
    assert [n["metadata"]["name"] for n in api.store.items("namespaces", None)] == ["ws-bob"]


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


SHARED = {"workspaces.jupyter.org/groups": "*"}


def add_claim(api, namespace: str, name: str, annotations: dict | None = None) -> None:
    post(api, f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", {
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "1Ti"}}},
    })


def add_pod_default(api, namespace: str, name: str, selector: dict, annotations: dict | None = None) -> None:
    post(api, f"/apis/kubeflow.org/v1alpha1/namespaces/{namespace}/poddefaults", {
        "apiVersion": "kubeflow.org/v1alpha1",
        "kind": "PodDefault",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"desc": name, "selector": selector, "env": [{"name": "X", "value": "1"}]},
    })


@pytest.fixture
def namespace_with_things(tmp_path, api) -> Path:
    """The one shared namespace, with a data PVC and two PodDefaults shared with everyone."""
    config = write_config(tmp_path, namespace="team")
    add_claim(api, "team", "datasets", SHARED)
    add_pod_default(api, "team", "s3-access", {"matchLabels": {"s3-access": "true"}}, SHARED)
    add_pod_default(api, "team", "ml-pipeline", {"matchLabels": {"access-ml-pipeline": "true"}}, SHARED)
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
    assert error.log_message == (
        "volumes[0].claim: no PersistentVolumeClaim 'nope' you may use in namespace 'team'; yours to mount: datasets"
    )
    assert len(writes(api)) == requests_before


def test_in_the_shared_namespace_only_claims_shared_with_your_groups_are_yours(namespace_with_things, api):
    add_claim(api, "team", "payroll")  # not shared
    add_claim(api, "team", "genomes", {"workspaces.jupyter.org/groups": "bio, chem"})
    spec = {"image": "lab", "volumes": [{"claim": "payroll", "mount_path": "/p"}]}
    assert "no PersistentVolumeClaim 'payroll' you may use" in refused(namespace_with_things, api, spec).log_message
    spec = {"image": "lab", "volumes": [{"claim": "genomes", "mount_path": "/g"}]}
    assert "yours to mount: datasets" in refused(namespace_with_things, api, spec, groups=("physics",)).log_message
    run(lambda: start(namespace_with_things, api.url, spec, groups=("chem",)))


def test_another_workspaces_storage_is_never_a_data_volume(namespace_with_things, api):
    run(lambda: start(namespace_with_things, api.url, {"image": "lab"}, user="carol", server="x"))
    spec = {"image": "lab", "volumes": [{"claim": object_name("carol", "x"), "mount_path": "/c"}]}
    assert refused(namespace_with_things, api, spec, user="mallory").status_code == 400


def test_a_data_volume_cannot_take_the_workspaces_own_mount_path(namespace_with_things, api):
    spec = {"image": "lab", "volumes": [{"claim": "datasets", "mount_path": "/home/jovyan/"}]}
    error = refused(namespace_with_things, api, spec)
    assert error.status_code == 400
    assert error.log_message == (
        "volumes[0].mount_path: /home/jovyan is where the workspace's own storage is mounted; pick another path"
    )


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
    assert error.log_message == (
        "pod_defaults[0]: no PodDefault 'gcs' you may use in namespace 'team'; available: ml-pipeline, s3-access"
    )
    assert len(writes(api)) == requests_before


def test_a_pod_default_that_cannot_be_applied_by_labels_is_refused(namespace_with_things, api):
    add_pod_default(api, "team", "by-expression", {"matchExpressions": [{"key": "a", "operator": "Exists"}]}, SHARED)
    add_pod_default(api, "team", "hijack", {"matchLabels": {"app.kubernetes.io/managed-by": "someone-else"}}, SHARED)
    error = refused(namespace_with_things, api, {"image": "lab", "pod_defaults": ["by-expression"]})
    assert "does not select pods by matchLabels alone" in error.log_message
    error = refused(namespace_with_things, api, {"image": "lab", "pod_defaults": ["hijack"]})
    assert "selects on the workspace's own labels (app.kubernetes.io/managed-by)" in error.log_message


# -- Istio --------------------------------------------------------------------------------------


def test_istio_gives_each_workspace_a_service_and_waits_for_its_sidecar(tmp_path, api):
    config = write_config(tmp_path, istio=True)
    run(lambda: start(config, api.url, {"image": "lab"}, user="bob", server="mesh"))
    [pod] = ours(api, "pods")
    annotations = pod["metadata"]["annotations"]
    assert annotations["sidecar.istio.io/inject"] == "true"
    assert json.loads(annotations["proxy.istio.io/config"]) == {"holdApplicationUntilProxyStarts": True}
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


def test_a_workspace_cannot_move_to_another_namespace(tmp_path, api):
    config = write_config(tmp_path, kubeflow=True)
    post(api, "/apis/kubeflow.org/v1/profiles", profile("bob", "bob"))
    post(api, "/apis/kubeflow.org/v1/profiles", profile("team", "bob"))

    async def move():
        s = await start(config, api.url, {"image": "lab"}, user="bob", server="w")
        await s.stop()
        s.apply_spec({"image": "lab", "namespace": "team"})
        with pytest.raises(web.HTTPError) as info:
            await s.start()
        return info.value

    error = run(move)
    assert error.status_code == 400
    assert "this workspace's storage is in 'bob'; a workspace cannot move to 'team'" in error.log_message
    assert [c["metadata"]["namespace"] for c in ours(api, "persistentvolumeclaims")] == ["bob"]


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


def test_a_look_alike_pod_in_a_namespace_the_user_may_not_use_is_ignored(tmp_path, api):
    # mallory made a pod with bob's workspace name and labels in her own namespace
    config = write_config(tmp_path, kubeflow=True)
    post(api, "/apis/kubeflow.org/v1/profiles", profile("bob", "bob"))
    post(api, "/apis/kubeflow.org/v1/profiles", profile("mallory", "mallory"))
    labels = {
        "app.kubernetes.io/managed-by": "workspaces", "component": "workspace",
        "workspaces.jupyter.org/owner": "bob", "workspaces.jupyter.org/workspace": "w",
    }
    post(api, "/api/v1/namespaces/mallory/pods", {
        "metadata": {"name": object_name("bob", "w"), "labels": labels},
        "spec": {"containers": [{"name": "notebook", "image": "evil"}]},
    })

    async def after_restart():
        s = make_spawner(config, api.url, user="bob", server="w")
        s.load_state({})
        status = await s.poll()
        await s.stop(now=True)
        return status, s.namespace

    status, namespace = run(after_restart)
    assert status == 1 and namespace != "mallory"
    assert [p["metadata"]["namespace"] for p in api.store.items("pods", None)] == ["mallory"]
