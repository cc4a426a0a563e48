"""Whether a profile can start now, from GPU leases, nodes and pods, and a namespace's quotas."""

from __future__ import annotations

import pytest

from spawner.gpus import GpuAllocator

from workspaces.capacity import (
    BUSY, NEVER, READY, SCALE_UP, UNKNOWN, Capacity, Need, kube_capacity, local_capacity, over_quota,
    pod_charges, quota_lines, read_leases,
)
from workspaces.catalog import Profile
from workspaces.quantity import amount

GPU = "nvidia.com/gpu"
TAINT = {"key": GPU, "value": "present", "effect": "NoSchedule"}


def node(name: str, cpu: str = "4", memory: str = "16Gi", gpus: int = 0, labels=None, taints=(), **spec):
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110", **({GPU: str(gpus)} if gpus else {})}
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": list(taints), **spec},
            "status": {"allocatable": allocatable}}


def pod(on: str, phase: str = "Running", **requests: str):
    requests = {k.replace("_", "/").replace("nvidia/com", "nvidia.com"): v for k, v in requests.items()}
    return {"spec": {"nodeName": on, "containers": [{"resources": {"requests": requests}}]}, "status": {"phase": phase}}


def gpu_need(count: int = 1) -> Need:
    return Need(cpu=1, memory=2 * 2**30, gpus=count, gpu_resource=GPU,
                node_selector={"gpu": "yes"}, tolerations=({"key": GPU, "operator": "Exists", "effect": "NoSchedule"},))


GPU_NODE = node("gpu-1", gpus=4, labels={"gpu": "yes"}, taints=[TAINT])
CPU_NODES = [node("cpu-1"), node("cpu-2")]


# -- the local backend -----------------------------------------------------------------------------


@pytest.mark.parametrize(("gpus", "total", "in_use", "state", "message"), [
    (1, 4, 1, READY, "3 GPUs free"),
    (1, 2, 1, READY, "1 GPU free"),
    (1, 4, 4, BUSY, "no GPU free: 4 of 4 in use"),
    (2, 4, 3, BUSY, "needs 2 GPUs, only 1 of 4 free"),
    (1, 0, 0, NEVER, "needs 1 GPU(s), this machine has 0"),
    (0, 0, 0, READY, "can start now"),
    (1, None, 0, UNKNOWN, "GPU use not known yet"),
])
def test_local_capacity_says_how_many_gpus_are_free(gpus, total, in_use, state, message):
    capacity = local_capacity(gpus, total, in_use)
    assert (capacity.state, capacity.message) == (state, message)


def test_only_a_profile_the_machine_can_never_serve_is_impossible():
    assert not local_capacity(2, 1, 0).possible
    assert local_capacity(1, 1, 1).possible and not local_capacity(1, 1, 1).available


def test_capacity_json_is_machine_readable():
    assert local_capacity(1, 4, 1).json() == {"state": "ready", "available": True, "message": "3 GPUs free",
                                              "free": 3, "total": 4}
    assert Capacity(READY, "can start now").json()["free"] is None


def test_the_api_reads_free_gpus_from_the_hubs_lease_file(tmp_path):
    path = tmp_path / "gpu-leases.json"
    assert read_leases(path) == (None, 0)  # the hub has not looked for GPUs yet
    allocator = GpuAllocator([0, 1, 2, 3], path)
    allocator.allocate("ann/train", 2)
    assert read_leases(path) == (4, 2)
    allocator.release("ann/train")
    assert read_leases(path) == (4, 0)
    path.write_text("{not json")
    assert read_leases(path) == (None, 0)


# -- Kubernetes: nodes and pods -------------------------------------------------------------------


def test_free_gpus_are_the_gpu_nodes_allocatable_less_what_every_pod_requests():
    pods = [pod("gpu-1", cpu="1", nvidia_com_gpu="1")]
    capacity = kube_capacity(gpu_need(), [*CPU_NODES, GPU_NODE], pods)
    assert (capacity.state, capacity.message, capacity.free, capacity.total) == (READY, "3 GPUs free", 3, 4)


@pytest.mark.parametrize(
    "quantity, value",
    [("500m", 0.5), ("100n", 1e-7), ("250u", 2.5e-4), ("2", 2), ("1.5", 1.5), ("1k", 1e3), ("2M", 2e6),
     ("16Gi", 16 * 2**30), ("7901068Ki", 7901068 * 2**10), ("1Ei", 2**60), ("2E", 2e18),
     ("1e9", 1e9), ("12E6", 1.2e7), ("5e-3", 0.005)],
)
def test_every_form_of_a_kubernetes_quantity_is_read(quantity, value):
    # the API server keeps the form a pod was written in (1e9 stays 1e9): any pod of the
    # cluster may carry one, and one it could not read would break everyone's form
    assert amount(quantity) == pytest.approx(value)


def test_a_pod_that_requests_in_exponent_form_is_counted():
    pods = [pod("cpu-1", cpu="3", memory="1e9"), pod("cpu-2", cpu="3500m", memory="165e8")]
    need = Need(cpu=0.5, memory=2**30, gpus=0, gpu_resource=GPU)
    assert kube_capacity(need, CPU_NODES, pods).message == "can start now"
    assert kube_capacity(need, CPU_NODES[1:], pods).message == "no room now: the nodes that fit it are full"


def test_a_pod_holds_what_the_scheduler_reserves_for_it_its_init_containers_and_overhead_included():
    # the larger of its containers' sum and any one init container, plus the runtime's overhead
    init = pod("cpu-1", cpu="1")
    init["spec"]["initContainers"] = [{"resources": {"requests": {"cpu": "3500m"}}}]
    overhead = pod("cpu-2", cpu="3")
    overhead["spec"]["overhead"] = {"cpu": "750m"}
    need = Need(cpu=0.5, memory=2**30, gpus=0, gpu_resource=GPU)
    assert kube_capacity(need, CPU_NODES[:1], [init]).message == "can start now"
    assert kube_capacity(need, CPU_NODES[1:], [overhead]).message == "no room now: the nodes that fit it are full"
    init["spec"]["initContainers"][0]["resources"]["requests"]["cpu"] = "3600m"
    assert kube_capacity(need, CPU_NODES[:1], [init]).message == "no room now: the nodes that fit it are full"
    # a sidecar (an init container that keeps running) adds to the containers
    sidecar = pod("cpu-1", cpu="3")
    sidecar["spec"]["initContainers"] = [{"restartPolicy": "Always", "resources": {"requests": {"cpu": "600m"}}}]
    assert kube_capacity(need, CPU_NODES[:1], [sidecar]).message == "no room now: the nodes that fit it are full"


def test_finished_and_unscheduled_pods_hold_nothing():
    pods = [pod("gpu-1", phase="Succeeded", nvidia_com_gpu="4"), {"spec": {"containers": []}, "status": {"phase": "Pending"}}]
    assert kube_capacity(gpu_need(), [GPU_NODE], pods).free == 4


def test_all_gpus_in_use_is_busy_with_the_figures():
    pods = [pod("gpu-1", nvidia_com_gpu="3"), pod("gpu-1", nvidia_com_gpu="1")]
    capacity = kube_capacity(gpu_need(), [*CPU_NODES, GPU_NODE], pods)
    assert (capacity.state, capacity.message) == (BUSY, "no GPU free: 4 of 4 in use")
    assert capacity.possible and not capacity.available


def test_with_an_autoscaler_no_room_now_needs_a_scale_up():
    pods = [pod("gpu-1", nvidia_com_gpu="4")]
    assert kube_capacity(gpu_need(), [GPU_NODE], pods, autoscaling=True).message == "needs a scale-up"
    # a GPU node pool scaled to zero
    assert kube_capacity(gpu_need(), CPU_NODES, [], autoscaling=True).state == SCALE_UP


def test_a_node_that_is_full_of_cpu_is_no_room_for_a_cpu_profile():
    need = Need(cpu=2, memory=2**30, gpus=0, gpu_resource=GPU)
    pods = [pod("cpu-1", cpu="3"), pod("cpu-2", cpu="3500m")]
    assert kube_capacity(need, CPU_NODES, pods).message == "no room now: the nodes that fit it are full"
    assert kube_capacity(need, CPU_NODES, pods[:1]).message == "can start now"


def test_more_gpus_than_any_node_has_can_never_start():
    capacity = kube_capacity(gpu_need(8), [*CPU_NODES, GPU_NODE], [])
    assert (capacity.state, capacity.message) == (NEVER, "no node of this cluster has 8 nvidia.com/gpu")


def test_a_tainted_gpu_node_admits_only_a_profile_that_tolerates_it():
    untolerated = Need(cpu=1, memory=2**30, gpus=1, gpu_resource=GPU)
    capacity = kube_capacity(untolerated, [*CPU_NODES, GPU_NODE], [])
    assert capacity.state == NEVER
    assert capacity.message == "no node of this cluster has 1 nvidia.com/gpu"


def test_no_node_matching_the_selector_can_never_start():
    capacity = kube_capacity(gpu_need(), CPU_NODES, [])
    assert capacity.message == "no schedulable node of this cluster matches the profile's node selector, tolerations and affinity"


def test_a_cordoned_node_admits_nothing():
    cordoned = node("gpu-1", gpus=4, labels={"gpu": "yes"}, taints=[TAINT], unschedulable=True)
    assert kube_capacity(gpu_need(), [cordoned], []).state == NEVER


def test_the_profiles_required_node_affinity_is_respected():
    profile = Profile.model_validate({
        "id": "p", "display_name": "P", "cpu": {"limit": 1}, "memory": {"limit": "1Gi"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
    })
    need = Need.of(profile)
    assert (need.cpu, need.memory) == (1, 2**30)  # no guarantee: the request is the limit
    assert kube_capacity(need, [node("n", labels={"zone": "b"})], []).state == NEVER
    assert kube_capacity(need, [node("n", labels={"zone": "a"})], []).state == READY


# -- Kubernetes: ResourceQuotas ---------------------------------------------------------------------


def quota(name: str, hard: dict, used: dict) -> dict:
    return {"metadata": {"name": name}, "status": {"hard": hard, "used": used}}


def test_a_start_the_quota_cannot_hold_is_named_with_its_figures():
    charges = pod_charges(Need(cpu=1, memory=2**30, gpus=0, gpu_resource=GPU), 1, 2**31, None)
    message = over_quota([quota("team-budget", {"limits.cpu": "500m"}, {"limits.cpu": "0"})], charges)
    assert message == "exceeded quota: team-budget, requested: limits.cpu=1, used: limits.cpu=0, limited: limits.cpu=500m"


def test_the_claims_storage_counts_only_when_the_claim_is_made_now():
    need = Need(cpu=0.5, memory=2**30, gpus=1, gpu_resource=GPU)
    storage = quota("disk", {"requests.storage": "5Gi"}, {"requests.storage": "0"})
    assert over_quota([storage], pod_charges(need, None, None, 10 * 2**30)) == (
        "exceeded quota: disk, requested: requests.storage=10Gi, used: requests.storage=0, limited: requests.storage=5Gi")
    assert over_quota([storage], pod_charges(need, None, None, None)) is None


def test_gpus_and_cpu_fractions_are_charged_as_the_api_server_does():
    need = Need(cpu=0.5, memory=2**30, gpus=2, gpu_resource=GPU)
    quotas = [quota("gpus", {"requests.nvidia.com/gpu": "2", "requests.cpu": "1"}, {"requests.nvidia.com/gpu": "1", "requests.cpu": "750m"})]
    assert over_quota(quotas, pod_charges(need, None, None, None)) == (
        "exceeded quota: gpus, requested: requests.cpu=500m,requests.nvidia.com/gpu=2, "
        "used: requests.cpu=750m,requests.nvidia.com/gpu=1, limited: requests.cpu=1,requests.nvidia.com/gpu=2")


def test_quota_lines_show_use_and_limit():
    assert quota_lines([quota("team-budget", {"pods": "10", "limits.cpu": "2"}, {"pods": "1", "limits.cpu": "500m"})]) == [
        "team-budget: limits.cpu 500m of 2 used, pods 1 of 10 used"]
