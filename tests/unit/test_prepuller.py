"""What the pre-puller wants from a catalog (spawner.prepuller): which images go to which nodes, and the names."""

from __future__ import annotations

from typing import Any

import pytest

from spawner.prepuller import container_name, daemon_set, placements, wanted_daemon_sets
from workspaces.catalog import Catalog, ImageEntry, Profile
from workspaces.config import PrepullSettings, load_config
from workspaces.errors import ConfigError

ON = PrepullSettings(enabled=True)
GPU_NODE = {"node_selector": {"nvidia.com/gpu.present": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}


def image(id: str, **fields: Any) -> ImageEntry:
    return ImageEntry(id=id, display_name=id, image=f"example.org/{id}:1", **fields)


def profile(id: str, **fields: Any) -> Profile:
    return Profile(id=id, display_name=id, **fields)


def pulled(catalog: Catalog) -> dict[str, list[str]]:
    """Image ids by the profiles of each placement."""
    return {",".join(p.id for p in ps): [i.id for i in images] for _, ps, images in placements(catalog)}


CATALOG = Catalog(
    (image("lab"), image("cuda", gpu=True), image("old", hidden=True)),
    (profile("small"), profile("large", cpu={"limit": 4}), profile("gpu", gpu={"count": 1}, **GPU_NODE),
     profile("secret", hidden=True, node_selector={"pool": "secret"})),
)


def test_gpu_images_go_where_gpu_profiles_run_and_the_others_where_profiles_without_gpus_run():
    assert pulled(CATALOG) == {"small,large": ["lab"], "gpu": ["cuda"]}


def test_profiles_that_only_may_have_gpus_take_the_gpu_images_too():
    catalog = Catalog((image("lab"), image("cuda", gpu=True)),
                      (profile("small"), profile("flex", gpu={"count": 0, "max": 2}, **GPU_NODE)))
    assert pulled(catalog) == {"small": ["lab"], "flex": ["lab", "cuda"]}


def test_an_image_with_no_profile_of_its_kind_goes_wherever_a_profile_runs():
    catalog = Catalog((image("cuda", gpu=True),), (profile("small"),))
    assert pulled(catalog) == {"small": ["cuda"]}
    only_gpus = Catalog((image("lab"),), (profile("gpu", gpu={"count": 1}, **GPU_NODE),))
    assert pulled(only_gpus) == {"gpu": ["lab"]}


def test_a_placement_with_no_image_to_pull_has_no_daemon_set():
    catalog = Catalog((image("lab"),), (profile("small"), profile("gpu", gpu={"count": 1}, **GPU_NODE)))
    [only] = wanted_daemon_sets(catalog, ON)
    assert "nodeSelector" not in only["spec"]["template"]["spec"]


def test_off_wants_no_daemon_set():
    assert wanted_daemon_sets(CATALOG, PrepullSettings()) == []


# a changed name deletes the DaemonSets of every hub and makes them again: pinned
@pytest.mark.parametrize("fields, name", [
    ({}, "prepull-55bce20319"),
    (GPU_NODE, "prepull-d3c9e07488"),
])
def test_daemon_set_names_are_a_hash_of_the_placement(fields, name):
    catalog = Catalog((image("lab"),), (profile("p", **fields),))
    [(placement, profiles, images)] = placements(catalog)
    assert daemon_set(placement, profiles, images, ON)["metadata"]["name"] == name


def test_the_pods_follow_the_profiles_placement_and_pull_each_image_once():
    catalog = Catalog((image("lab"), ImageEntry(id="lab-again", display_name="x", image="example.org/lab:1")),
                      (profile("gpu", gpu={"count": 1}, **GPU_NODE),))
    [ds] = wanted_daemon_sets(catalog, ON)
    spec = ds["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == GPU_NODE["node_selector"] and spec["tolerations"] == GPU_NODE["tolerations"]
    assert [(c["name"], c["image"], c["command"]) for c in spec["initContainers"]] == [
        ("pull-lab", "example.org/lab:1", ["/bin/sh", "-c", "echo Pulling complete"])]
    assert [(c["name"], c["image"]) for c in spec["containers"]] == [("pause", "registry.k8s.io/pause:3.10")]
    # next to nothing reserved: a pull pod is on every node, beside the workspaces
    for c in spec["initContainers"] + spec["containers"]:
        assert c["resources"] == {"requests": {"cpu": "1m", "memory": "4Mi"}, "limits": {"memory": "32Mi"}}


def test_container_names_of_long_ids_stay_distinct_dns_labels():
    a, b = "x" * 60 + "a", "x" * 60 + "b"
    names = {container_name(image(a)), container_name(image(b))}
    assert len(names) == 2 and all(len(n) <= 63 for n in names)
    assert container_name(image("lab")) == "pull-lab"


@pytest.mark.parametrize("prepull, message", [
    ("{namespace: Bad_NS}", "kubernetes.prepull: namespace 'Bad_NS' is not a DNS-1123 label (a-z, 0-9, '-', at most 63)"),
    ("{interval: 0}", "kubernetes.prepull.interval: must be > 0.0"),
    ("{hook: {enabled: true}}",
     "kubernetes.prepull.hook: unknown key; allowed keys: enabled, namespace, pause_image, command, interval, resync"),
])
def test_a_bad_pre_pull_setting_is_one_line_saying_what_is_wrong(tmp_path, prepull, message):
    path = tmp_path / "workspaces.yaml"
    path.write_text(f"backend: kubernetes\nkubernetes:\n  prepull: {prepull}\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.lines() == [f"{path}: {message}"]
