"""The spawn form on the real control plane says whether each profile can start now.

From the hub's one watch of the nodes and the pods scheduled on them (any pod:
a GPU job that is no workspace holds its GPUs all the same), and the
namespace's ResourceQuotas. The simulated kubelet has two CPU nodes and gpu-1
with four nvidia.com/gpu, tainted for GPU pods only.
"""

from __future__ import annotations

import asyncio
import re

import yaml

from ..support.cluster import wait_until
from ..support.cluster_fixture import GPUS, RBAC
from .kube import hardened_pod, make_spawner, run, write_config

TOLERATE_GPUS = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
TOO_BIG = {"id": "gpu-huge", "display_name": "Huge", "gpu": {"count": 2 * GPUS}, "tolerations": TOLERATE_GPUS}


def form(config_file, cluster) -> str:
    async def render() -> str:
        return await make_spawner(config_file, cluster, user="cara").render_options_form()

    return run(render)


def card(html: str, profile: str) -> str:
    match = re.search(rf'<label class="ws-card" data-profile="{profile}">(.*?)</label>', html, re.S)
    assert match, profile
    return match.group(1)


def gpu_job(cluster, namespace: str, gpus: int) -> None:
    """A pod that is no workspace, holding GPUs on gpu-1 once scheduled."""
    pod = hardened_pod("training-job", "example.org/train:1", tolerations=TOLERATE_GPUS,
                       nodeSelector={"nvidia.com/gpu.present": "true"})
    pod["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    cluster.admin.create("pods", pod, namespace)
    wait_until(lambda: cluster.admin.get("pods", "training-job", namespace)["spec"].get("nodeName"), 30, "the job scheduled")


def test_the_form_counts_the_free_gpus_less_what_any_pod_holds(cluster, config_file, namespace):
    # the cluster is the session's: an earlier test's namespace may still be going, its GPU pods with it
    wait_until(lambda: cluster.gpus_free() == GPUS, 60, "the GPUs of earlier tests' pods to be free")
    wait_until(lambda: "4 GPUs free" in card(form(config_file, cluster), "gpu-big"), 30, "the form to count 4 free")  # gpu-big asks for 2
    gpu_job(cluster, namespace, 3)
    assert "needs 2 GPUs, only 1 of 4 free" in card(form(config_file, cluster), "gpu-big")


def test_a_profile_no_node_can_hold_is_unavailable_in_the_form(cluster, tmp_path, namespace):
    html = form(write_config(tmp_path, profiles=(TOO_BIG,), namespace=namespace), cluster)
    assert "Unavailable: no node of this cluster has 8 nvidia.com/gpu" in card(html, "gpu-huge")
    assert re.search(r'value="gpu-huge"[^>]*\bdisabled\b', html)
    assert "can start now" in card(html, "small")


def test_with_an_autoscaler_a_profile_no_node_holds_needs_a_scale_up(cluster, tmp_path, namespace):
    html = form(write_config(tmp_path, profiles=(TOO_BIG,), namespace=namespace, autoscaling=True), cluster)
    assert "needs a scale-up" in card(html, "gpu-huge")
    assert not re.search(r'value="gpu-huge"[^>]*\bdisabled\b', html)


def test_the_form_shows_the_namespaces_quota(cluster, config_file, namespace):
    cluster.admin.create("resourcequotas", {"metadata": {"name": "team-budget"}, "spec": {"hard": {"pods": "10"}}}, namespace)
    wait_until(lambda: cluster.admin.get("resourcequotas", "team-budget", namespace).get("status", {}).get("used"), 30,
               "the quota's usage")
    assert "Quota team-budget: pods 0 of 10 used" in form(config_file, cluster)



def test_the_hubs_node_watch_follows_a_node_being_cordoned(cluster, config_file):
    # one hub process: the form shown after the change reads the same watch. Its list is renewed
    # only every 10 s (the watch's timeout), so a change seen within 4 s came through the watch.
    def cordon(unschedulable: bool) -> None:
        cluster.admin.patch("nodes", "gpu-1", {"spec": {"unschedulable": unschedulable}})

    async def cordoned_while_watched() -> str:
        s = make_spawner(config_file, cluster, user="cara")
        assert "Unavailable" not in card(await s.render_options_form(), "gpu-big")
        await asyncio.to_thread(cordon, True)
        for _ in range(40):
            html = await s.render_options_form()
            if "Unavailable" in card(html, "gpu-big"):
                break
            await asyncio.sleep(0.1)
        return card(html, "gpu-big")

    try:
        gpu_card = run(cordoned_while_watched)
    finally:
        cordon(False)
    assert "Unavailable: no schedulable node of this cluster matches" in gpu_card


def test_a_hub_whose_rbac_predates_capacity_still_shows_its_form_and_starts(cluster, config_file, namespace):
    # the rules of config/kubernetes/rbac.yaml without nodes and resourcequotas: a chart not upgraded yet
    [role] = [d for d in yaml.safe_load_all(RBAC.read_text()) if d["kind"] == "ClusterRole"]
    older = [r for r in role["rules"] if not {"nodes", "resourcequotas"} & set(r["resources"])]
    hub = cluster.service_account(namespace, "older-hub", cluster_rules=older)

    async def form_then_start() -> str:
        s = make_spawner(config_file, hub, user="cara")
        html = await s.render_options_form()
        s.apply_spec({"image": "lab", "profile": "small"})
        await s.start()
        return html

    html = run(form_then_start)
    assert "the cluster&#39;s capacity is not known" in card(html, "small")
    assert [p["status"]["phase"] for p in cluster.items("pods", namespace)] == ["Running"]
