"""Where a workspace goes, what its spec refers to, how many watches the hub holds, and finding pods again.

On the real cluster, as the hub's ServiceAccount: an object the server
stored is one it accepted (validation, admission, Pod Security); what the hub
asked for is read from the server's audit log. Every test uses namespaces,
profiles and users of its own, since the cluster is shared by the session.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tornado import web

from spawner.kubernetes import object_name
from workspaces.naming import label_value

from ..support.cluster import wait_until
from .conftest import RESTRICTED
from .kube import Kubeflow, hardened_pod, make_spawner, run, start, unique, write_config

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def hub_writes(cluster, since: int) -> list[tuple[str, str]]:
    """The hub's write requests since the audit mark ``since``."""
    return [(m, p) for m, p, _ in cluster.requests(since=since) if m in WRITES]


def names(cluster, plural: str, namespace: str) -> list[str]:
    """Names of the live (not Terminating) objects."""
    return sorted(o["metadata"]["name"] for o in cluster.items(plural, namespace) if not o["metadata"].get("deletionTimestamp"))


def refused(config_file: Path, cluster, spec: dict, **kwargs) -> web.HTTPError:
    async def go():
        s = make_spawner(config_file, cluster, **kwargs)
        s.apply_spec(spec)
        with pytest.raises(web.HTTPError) as info:
            await s.start()
        return info.value

    return run(go)


# -- namespaces without Kubeflow ---------------------------------------------------------


@pytest.fixture
def template(cluster):
    """A namespace template of this test's own; the namespaces it gave are removed after."""
    prefix = unique("ws")
    yield f"{prefix}-{{username}}"
    for namespace in cluster.items("namespaces"):
        if namespace["metadata"]["name"].startswith(prefix):
            cluster.delete_namespace(namespace["metadata"]["name"])


def test_a_namespace_template_gives_each_user_one_namespace(tmp_path, cluster, template):
    config = write_config(tmp_path, namespace_template=template)

    async def two():
        first = await start(config, cluster, {"image": "lab"}, user="bob", server="a")
        second = await start(config, cluster, {"image": "lab"}, user="bob", server="b")
        return first.namespace, second.namespace

    mine = template.format(username="bob")
    assert run(two) == (mine, mine)
    namespace = cluster.admin.get("namespaces", mine)
    assert namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workspaces"
    both = [object_name("bob", "a"), object_name("bob", "b")]
    assert names(cluster, "pods", mine) == both and names(cluster, "persistentvolumeclaims", mine) == both


def test_an_existing_namespace_is_used_as_it_is(tmp_path, cluster, template):
    config = write_config(tmp_path, namespace_template=template)
    mine = template.format(username="bob")
    cluster.admin.namespace(mine, {"team": "ml"})
    existing = cluster.admin.get("namespaces", mine)
    mark = cluster.audit_mark()
    run(lambda: start(config, cluster, {"image": "lab"}, user="bob"))
    assert ("POST", "/api/v1/namespaces") in hub_writes(cluster, mark)  # answered 409
    namespace = cluster.admin.get("namespaces", mine)
    assert namespace["metadata"]["labels"] == {"team": "ml", "kubernetes.io/metadata.name": mine}
    assert namespace["metadata"]["resourceVersion"] == existing["metadata"]["resourceVersion"]
    assert names(cluster, "pods", mine) == [object_name("bob", "train")]


def test_a_long_user_name_still_makes_a_valid_namespace(tmp_path, cluster, template):
    config = write_config(tmp_path, namespace_template=template)
    user = "a.very.long.name.of.somebody@a-department.example.com"
    namespace = run(lambda: start(config, cluster, {"image": "lab"}, user=user)).namespace
    assert len(namespace) <= 63 and namespace.startswith(template.format(username=""))
    assert cluster.admin.find("namespaces", namespace)  # the server took the name
    assert names(cluster, "pods", namespace) == names(cluster, "persistentvolumeclaims", namespace) == [object_name(user, "train")]


def test_a_namespace_deleted_meanwhile_is_made_again(tmp_path, cluster, template):
    config = write_config(tmp_path, namespace_template=template)
    mine = template.format(username="bob")
    run(lambda: start(config, cluster, {"image": "lab"}, user="bob", server="a"))
    old = cluster.admin.get("namespaces", mine)["metadata"]["uid"]
    cluster.admin.delete("namespaces", mine)
    cluster.admin.wait_gone("namespaces", mine)  # its pod and claim go first, as on any cluster
    run(lambda: start(config, cluster, {"image": "lab"}, user="bob", server="b"))
    assert cluster.admin.get("namespaces", mine)["metadata"]["uid"] != old
    assert names(cluster, "pods", mine) == [object_name("bob", "b")]


def test_another_users_namespace_is_refused_with_a_template(tmp_path, cluster, template):
    config = write_config(tmp_path, namespace_template=template)
    mark = cluster.audit_mark()
    carols = template.format(username="carol")
    error = refused(config, cluster, {"image": "lab", "namespace": carols}, user="bob")
    assert error.status_code == 403
    assert f"your workspaces run in '{template.format(username='bob')}' here; '{carols}' is not allowed" in error.log_message
    assert hub_writes(cluster, mark) == []


def test_a_fixed_namespace_refuses_any_other(config_file, cluster, namespace):
    mark = cluster.audit_mark()
    error = refused(config_file, cluster, {"image": "lab", "namespace": "elsewhere"}, user="bob")
    assert error.status_code == 400
    assert f"workspaces run in '{namespace}' here" in error.log_message
    assert hub_writes(cluster, mark) == []


# -- data volumes and PodDefaults ----------------------------------------------------------


SHARED = {"workspaces.jupyter.org/groups": "*"}


def add_claim(cluster, namespace: str, name: str, annotations: dict | None = None) -> None:
    cluster.admin.create("persistentvolumeclaims", {
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "1Ti"}}},
    }, namespace)


def add_pod_default(cluster, namespace: str, name: str, selector: dict, annotations: dict | None = None) -> None:
    cluster.admin.create("poddefaults", {
        "apiVersion": "kubeflow.org/v1alpha1",
        "kind": "PodDefault",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"desc": name, "selector": selector, "env": [{"name": "X", "value": "1"}]},
    }, namespace)


@pytest.fixture
def namespace_with_things(cluster, config_file, namespace) -> Path:
    """The one shared namespace, with a data PVC and two PodDefaults shared with everyone."""
    add_claim(cluster, namespace, "datasets", SHARED)
    add_pod_default(cluster, namespace, "s3-access", {"matchLabels": {"s3-access": "true"}}, SHARED)
    add_pod_default(cluster, namespace, "ml-pipeline", {"matchLabels": {"access-ml-pipeline": "true"}}, SHARED)
    return config_file


def test_a_data_volume_mounts_an_existing_claim(namespace_with_things, cluster, namespace):
    spec = {"image": "lab", "volumes": [{"claim": "datasets", "mount_path": "/data", "read_only": True}]}
    run(lambda: start(namespace_with_things, cluster, spec))
    [pod] = cluster.items("pods", namespace)
    assert {"name": "data-0", "persistentVolumeClaim": {"claimName": "datasets", "readOnly": True}} in pod["spec"]["volumes"]
    assert pod["status"]["phase"] == "Running"


def test_a_missing_data_volume_is_refused_before_anything_is_created(namespace_with_things, cluster, namespace):
    mark = cluster.audit_mark()
    error = refused(namespace_with_things, cluster, {"image": "lab", "volumes": [{"claim": "nope", "mount_path": "/d"}]})
    assert error.status_code == 400
    assert error.log_message == (
        f"volumes[0].claim: no PersistentVolumeClaim 'nope' you may use in namespace '{namespace}'; yours to mount: datasets"
    )
    assert hub_writes(cluster, mark) == []


def test_a_refused_data_volume_leaves_the_servers_record_as_it_was(namespace_with_things, cluster):
    # the hub stores a start's options on the record first; a refused spec must not stay there
    spec = {"image": "lab", "volumes": [{"claim": "nope", "mount_path": "/d"}]}

    async def go() -> object:
        s = make_spawner(namespace_with_things, cluster)
        s.handler = object()  # as User.spawn does, just before it records the start's options
        s.orm_spawner.user_options = dict(spec)
        s.apply_spec(spec)
        with pytest.raises(web.HTTPError):
            await s.start()
        return s.orm_spawner

    assert run(go).user_options == {}


def test_in_the_shared_namespace_only_claims_shared_with_your_groups_are_yours(namespace_with_things, cluster, namespace):
    add_claim(cluster, namespace, "payroll")  # not shared
    add_claim(cluster, namespace, "genomes", {"workspaces.jupyter.org/groups": "bio, chem"})
    spec = {"image": "lab", "volumes": [{"claim": "payroll", "mount_path": "/p"}]}
    assert "no PersistentVolumeClaim 'payroll' you may use" in refused(namespace_with_things, cluster, spec).log_message
    spec = {"image": "lab", "volumes": [{"claim": "genomes", "mount_path": "/g"}]}
    assert "yours to mount: datasets" in refused(namespace_with_things, cluster, spec, groups=("physics",)).log_message
    run(lambda: start(namespace_with_things, cluster, spec, groups=("chem",)))


def test_another_workspaces_storage_is_never_a_data_volume(namespace_with_things, cluster):
    run(lambda: start(namespace_with_things, cluster, {"image": "lab"}, user="carol", server="x"))
    spec = {"image": "lab", "volumes": [{"claim": object_name("carol", "x"), "mount_path": "/c"}]}
    assert refused(namespace_with_things, cluster, spec, user="mallory").status_code == 400


def test_a_data_volume_cannot_take_the_workspaces_own_mount_path(namespace_with_things, cluster):
    spec = {"image": "lab", "volumes": [{"claim": "datasets", "mount_path": "/home/jovyan/"}]}
    error = refused(namespace_with_things, cluster, spec)
    assert error.status_code == 400
    assert error.log_message == (
        "volumes[0].mount_path: /home/jovyan is where the workspace's own storage is mounted; pick another path"
    )


def test_pod_defaults_put_their_selector_labels_on_the_pod(namespace_with_things, cluster, namespace):
    run(lambda: start(namespace_with_things, cluster, {"image": "lab", "pod_defaults": ["s3-access", "ml-pipeline"]}))
    [pod] = cluster.items("pods", namespace)
    assert pod["metadata"]["labels"]["s3-access"] == "true"
    assert pod["metadata"]["labels"]["access-ml-pipeline"] == "true"
    assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workspaces"


def test_an_unknown_pod_default_is_refused_naming_the_available_ones(namespace_with_things, cluster, namespace):
    mark = cluster.audit_mark()
    error = refused(namespace_with_things, cluster, {"image": "lab", "pod_defaults": ["gcs"]})
    assert error.status_code == 400
    assert error.log_message == (
        f"pod_defaults[0]: no PodDefault 'gcs' you may use in namespace '{namespace}'; available: ml-pipeline, s3-access"
    )
    assert hub_writes(cluster, mark) == []


def test_a_pod_default_that_cannot_be_applied_by_labels_is_refused(namespace_with_things, cluster, namespace):
    add_pod_default(cluster, namespace, "by-expression", {"matchExpressions": [{"key": "a", "operator": "Exists"}]}, SHARED)
    add_pod_default(cluster, namespace, "hijack", {"matchLabels": {"app.kubernetes.io/managed-by": "someone-else"}}, SHARED)
    error = refused(namespace_with_things, cluster, {"image": "lab", "pod_defaults": ["by-expression"]})
    assert "does not select pods by matchLabels alone" in error.log_message
    error = refused(namespace_with_things, cluster, {"image": "lab", "pod_defaults": ["hijack"]})
    assert "selects on the workspace's own labels (app.kubernetes.io/managed-by)" in error.log_message


# -- nodes and Istio ------------------------------------------------------------------------------


def test_a_gpu_workspace_is_accepted_and_placed_on_the_gpu_node(config_file, cluster, namespace):
    """The profile's GPUs, node selector, toleration and affinity, as the real scheduler reads them."""
    run(lambda: start(config_file, cluster, {"image": "cuda", "profile": "gpu-big", "storage": "20Gi"}))
    [pod] = cluster.items("pods", namespace)
    assert pod["spec"]["nodeName"] == "gpu-1" and pod["status"]["phase"] == "Running"
    [claim] = cluster.items("persistentvolumeclaims", namespace)
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"


def test_istio_gives_each_workspace_a_service_and_waits_for_its_sidecar(tmp_path, cluster, namespace):
    config = write_config(tmp_path, namespace=namespace, istio=True)
    run(lambda: start(config, cluster, {"image": "lab"}, user="bob", server="mesh"))
    [pod] = cluster.items("pods", namespace)
    annotations = pod["metadata"]["annotations"]
    assert annotations["sidecar.istio.io/inject"] == "true"
    assert json.loads(annotations["proxy.istio.io/config"]) == {"holdApplicationUntilProxyStarts": True}
    [service] = cluster.items("services", namespace)
    assert service["metadata"]["name"] == object_name("bob", "mesh")
    assert service["spec"]["ports"][0]["name"] == "http"  # Istio picks the protocol by port name
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert names(cluster, "persistentvolumeclaims", namespace) == [object_name("bob", "mesh")]


# -- namespaces with Kubeflow -----------------------------------------------------------------


@pytest.fixture
def kubeflow(cluster):
    """Profiles made for this test; removed after."""
    profiles = Kubeflow(cluster, RESTRICTED)
    yield profiles
    profiles.remove()


@pytest.fixture
def kubeflow_config(tmp_path) -> Path:
    return write_config(tmp_path, kubeflow=True)


@pytest.fixture
def alice(kubeflow):
    """alice owns a profile, may edit in team-ml and only view team-ro (both carol's)."""
    user = unique("alice") + "@example.com"
    own, team_ml, team_ro = kubeflow.profile("alice", user), kubeflow.profile("team-ml", "carol@example.com"), \
        kubeflow.profile("team-ro", "carol@example.com")
    kubeflow.contributor(team_ml, user, "edit")
    kubeflow.contributor(team_ro, user, "view")
    return user, own, team_ml, team_ro


def start_in(cluster, config: Path, user: str, spec: dict) -> str:
    """Start a workspace; returns the namespace of its pod."""
    return run(lambda: start(config, cluster, spec, user=user)).namespace


def test_kubeflow_workspaces_go_to_the_owners_profile_namespace(kubeflow_config, cluster, alice):
    user, own, team_ml, team_ro = alice
    assert start_in(cluster, kubeflow_config, user, {"image": "lab"}) == own
    assert [names(cluster, "pods", n) for n in (own, team_ml, team_ro)] == [[object_name(user, "train")], [], []]


def test_the_chosen_namespace_is_recorded_in_the_spec(kubeflow_config, cluster, alice):
    user, own, _, _ = alice

    async def go():
        s = await start(kubeflow_config, cluster, {"image": "lab"}, user=user, server="rec")
        return s.user_options, s.orm_spawner.user_options

    options, stored = run(go)
    assert options["namespace"] == stored["namespace"] == own


def test_kubeflow_workspaces_may_go_to_a_contributor_namespace(kubeflow_config, cluster, alice):
    user, _, team_ml, _ = alice
    assert start_in(cluster, kubeflow_config, user, {"image": "lab", "namespace": team_ml}) == team_ml
    assert names(cluster, "pods", team_ml) == [object_name(user, "train")]


def test_a_namespace_the_user_may_not_use_is_refused_before_anything_is_created(kubeflow_config, cluster, alice):
    user, own, team_ml, team_ro = alice
    mark = cluster.audit_mark()
    error = refused(kubeflow_config, cluster, {"image": "lab", "namespace": team_ro}, user=user)
    assert error.status_code == 403
    assert f"namespace '{team_ro}' is not one you may use; allowed: {own}, {team_ml}" in error.log_message
    assert hub_writes(cluster, mark) == []


def test_kubeflow_profile_namespaces_are_never_created_or_deleted(kubeflow_config, cluster, alice):
    user, own, _, _ = alice

    async def whole_life():
        s = await start(kubeflow_config, cluster, {"image": "lab"}, user=user)
        await s.stop()
        await s.delete_forever()

    mark = cluster.audit_mark()
    run(whole_life)
    assert [(m, p) for m, p in hub_writes(cluster, mark) if p.startswith("/api/v1/namespaces") and p.count("/") <= 4] == []
    assert not cluster.admin.get("namespaces", own)["metadata"].get("deletionTimestamp")


def watches_open(cluster, since: int) -> list[str]:
    """Paths of the hub's watches open now: started since the audit mark ``since``, not yet ended."""
    cluster.requests(since=cluster.audit_mark())  # returns once the log holds every request answered so far
    started, ended = {}, set()
    with open(cluster.plane.dir / "audit.log") as log:
        log.seek(since)
        for line in log:
            event = json.loads(line)
            if event["user"]["username"] != cluster.hub_user or event["verb"] != "watch":
                continue
            if event["stage"] == "ResponseStarted":
                started[event["auditID"]] = urlsplit(event["requestURI"]).path
            elif event["stage"] == "ResponseComplete":
                ended.add(event["auditID"])
    return sorted(p for a, p in started.items() if a not in ended)


def test_the_hub_holds_three_watches_however_many_profile_namespaces(kubeflow_config, cluster, kubeflow):
    # per-namespace watches would be 24 (and nodes are one set); the CPU nodes hold about 30 small workspaces
    users = [unique("user") + "@example.com" for _ in range(12)]
    for user in users:
        kubeflow.profile("team", user)
    mark = cluster.audit_mark()

    async def everywhere():
        spawners = await asyncio.gather(*(start(kubeflow_config, cluster, {"image": "lab"}, user=u, server="w") for u in users))
        # while they run; a watch being renewed (every 10 s) is briefly not open
        await asyncio.to_thread(
            wait_until, lambda: watches_open(cluster, mark) == ["/api/v1/events", "/api/v1/nodes", "/api/v1/pods"], 30,
            "three cluster-wide watches",
        )
        return {s.namespace for s in spawners}

    assert len(run(everywhere)) == 12
    watched = {p for m, p, q in cluster.requests(since=mark) if "watch=" in q.lower()}
    assert watched == {"/api/v1/pods", "/api/v1/events", "/api/v1/nodes"}


def test_a_workspace_cannot_move_to_another_namespace(kubeflow_config, cluster, kubeflow):
    user = unique("bob")
    own, team = kubeflow.profile("bob", user), kubeflow.profile("team", user)

    async def move():
        s = await start(kubeflow_config, cluster, {"image": "lab"}, user=user, server="w")
        await s.stop()
        s.apply_spec({"image": "lab", "namespace": team})
        with pytest.raises(web.HTTPError) as info:
            await s.start()
        return info.value

    error = run(move)
    assert error.status_code == 400
    assert f"this workspace's storage is in '{own}'; a workspace cannot move to '{team}'" in error.log_message
    assert names(cluster, "persistentvolumeclaims", own) == [object_name(user, "w")]
    assert names(cluster, "persistentvolumeclaims", team) == names(cluster, "pods", team) == []


# -- after a hub restart ----------------------------------------------------------------------


def test_a_running_workspace_is_found_again_from_its_saved_state(kubeflow_config, cluster, kubeflow):
    user = unique("bob")
    own = kubeflow.profile("bob", user)

    async def restart():
        from spawner.kubernetes import KubeWorkspaceSpawner

        first = await start(kubeflow_config, cluster, {"image": "lab"}, user=user, server="w")
        state = first.get_state()
        await KubeWorkspaceSpawner._stop_all_reflectors()  # the old hub is gone
        again = make_spawner(kubeflow_config, cluster, user=user, server="w")
        again.load_state(state)
        return await again.poll(), again.namespace

    assert run(restart) == (None, own)


def test_a_pod_whose_namespace_was_never_saved_is_found_and_stopped(kubeflow_config, cluster, kubeflow):
    # the hub died between creating the pod and saving the state
    user = unique("bob")
    own = kubeflow.profile("bob", user)

    async def orphan():
        from spawner.kubernetes import KubeWorkspaceSpawner

        await start(kubeflow_config, cluster, {"image": "lab"}, user=user, server="w")
        await KubeWorkspaceSpawner._stop_all_reflectors()
        again = make_spawner(kubeflow_config, cluster, user=user, server="w")
        again.load_state({})
        status = await again.poll()
        await again.stop(now=True)
        return status, again.namespace

    assert run(orphan) == (None, own)
    assert names(cluster, "pods", own) == []


def test_a_look_alike_pod_in_a_namespace_the_user_may_not_use_is_ignored(kubeflow_config, cluster, kubeflow):
    # mallory made a pod with bob's workspace name and labels in her own namespace
    bob, mallory = unique("bob"), unique("mallory")
    own, hers = kubeflow.profile("bob", bob), kubeflow.profile("mallory", mallory)
    labels = {
        "app.kubernetes.io/managed-by": "workspaces", "component": "workspace",
        "workspaces.jupyter.org/owner": label_value(bob), "workspaces.jupyter.org/workspace": "w",
    }
    look_alike = cluster.admin.create("pods", hardened_pod(object_name(bob, "w"), "evil", labels), hers)

    async def after_restart():
        s = make_spawner(kubeflow_config, cluster, user=bob, server="w")
        s.load_state({})
        status = await s.poll()
        await s.stop(now=True)
        return status, s.namespace

    status, namespace = run(after_restart)
    assert status == 1 and namespace != hers
    assert [p["metadata"]["uid"] for p in cluster.items("pods", hers)] == [look_alike["metadata"]["uid"]]
    assert names(cluster, "pods", own) == []
