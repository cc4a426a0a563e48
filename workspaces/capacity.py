"""Whether a profile can start now: the figures behind the form's and ``GET /profiles``' capacity hint.

Pure functions of what the backends see, so the hub's form and the API
service (separate processes) judge alike:

- locally, the machine's GPU leases (:func:`local_capacity`), which the hub
  publishes in a file of its data directory (:func:`read_leases`);
- on Kubernetes, the nodes and the pods scheduled on them
  (:func:`kube_capacity`): a node's allocatable resources less what its pods
  request, every pod counted, workspace or not, as the scheduler counts them;
- a namespace's ResourceQuotas (:func:`over_quota`, :func:`quota_lines`),
  checked before a start makes anything.

A capacity is a hint, never a promise: between the form and the start another
workspace may take the last GPU, and the start then fails with the backend's
reason. Only ``never`` (this machine or cluster cannot serve the profile at
all) disables a profile in the forms.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .catalog import Profile
from .quantity import amount, format_bytes

# The states of a capacity, for programs (the message is for people).
READY = "ready"  # it can start now
BUSY = "busy"  # it could run here, but what it needs is in use
SCALE_UP = "scale_up"  # no node has room; the cluster's autoscaler has to add one
NEVER = "never"  # this machine or cluster cannot serve it at all
UNKNOWN = "unknown"  # the backend's figures are not at hand (yet)

# Pods that hold no resources any more.
_FINISHED = {"Succeeded", "Failed"}


@dataclass(frozen=True)
class Capacity:
    """Whether a profile can start now, and why not; ``free``/``total`` count GPUs (None: no GPU asked)."""

    state: str
    message: str
    free: int | None = None
    total: int | None = None

    @property
    def available(self) -> bool:
        return self.state == READY

    @property
    def possible(self) -> bool:
        """False only when it can never start here: the forms disable it."""
        return self.state != NEVER

    def json(self) -> dict[str, Any]:
        return {**asdict(self), "available": self.available}


def _gpus(n: int) -> str:
    return f"{n} GPU" + ("" if n == 1 else "s")


# -- the local backend ---------------------------------------------------------------


def local_capacity(gpus: int, total: int | None, in_use: int) -> Capacity:
    """A local start asking for ``gpus``, on a machine with ``total`` GPUs (None: not known yet), ``in_use`` leased."""
    if not gpus:
        return Capacity(READY, "can start now")
    if total is None:
        return Capacity(UNKNOWN, "GPU use not known yet", None, None)
    free = max(total - in_use, 0)
    if total < gpus:
        return Capacity(NEVER, f"needs {gpus} GPU(s), this machine has {total}", free, total)
    if free < gpus:
        if free == 0:
            return Capacity(BUSY, f"no GPU free: {in_use} of {total} in use", free, total)
        return Capacity(BUSY, f"needs {_gpus(gpus)}, only {free} of {total} free", free, total)
    return Capacity(READY, f"{_gpus(free)} free", free, total)


def read_leases(path: Path) -> tuple[int | None, int]:
    """(GPUs of the machine, GPUs leased) from the hub's lease file (spawner.gpus.write_leases);
    (None, 0) when the hub has not written it (yet)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return len(data["gpus"]), sum(len(held) for held in data["leases"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, 0


# -- Kubernetes: nodes and pods --------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """What one workspace of a profile asks of a node: requests, placement rules."""

    cpu: float
    memory: float
    gpus: int
    gpu_resource: str
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    node_terms: tuple[Mapping[str, Any], ...] = ()  # required node affinity: any term must match

    @classmethod
    def of(cls, profile: Profile, gpus: int | None = None) -> Need:
        # a request left out is the limit (Kubernetes defaults one to the other)
        cpu = profile.cpu.guarantee if profile.cpu.guarantee is not None else profile.cpu.limit
        memory = profile.memory.guarantee_bytes()
        if memory is None:
            memory = profile.memory.limit_bytes()
        node = profile.affinity.nodeAffinity
        required = node.requiredDuringSchedulingIgnoredDuringExecution if node else None
        return cls(
            cpu=cpu or 0.0,
            memory=float(memory or 0),
            gpus=profile.gpu.count if gpus is None else gpus,
            gpu_resource=profile.gpu.resource,
            node_selector=dict(profile.node_selector),
            tolerations=tuple(t.model_dump(exclude_none=True, by_alias=True) for t in profile.tolerations),
            node_terms=tuple(t.model_dump(exclude_none=True) for t in required.nodeSelectorTerms) if required else (),
        )

    def resources(self) -> dict[str, float]:
        out = {"cpu": self.cpu, "memory": self.memory, "pods": 1.0}
        if self.gpus:
            out[self.gpu_resource] = float(self.gpus)
        return out

    def describe(self, resource: str) -> str:
        value = self.resources()[resource]
        if resource == "memory":
            return format_bytes(int(value)) + " of memory"
        if resource == "cpu":
            return f"{value:g} CPU"
        return f"{value:g} {resource}"


def _tolerated(taint: Mapping[str, Any], tolerations: Iterable[Mapping[str, Any]]) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists":
            if not t.get("key") or t["key"] == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _term_matches(term: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    for e in term.get("matchExpressions", []):
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        # Gt and Lt are left to the scheduler
    return True


def admits(node: Mapping[str, Any], need: Need) -> bool:
    """The node is one the pod may go to: schedulable, labels, taints and required affinity."""
    if node.get("spec", {}).get("unschedulable"):
        return False
    labels = node.get("metadata", {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in need.node_selector.items()):
        return False
    for taint in node.get("spec", {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(taint, need.tolerations):
            return False
    return not need.node_terms or any(_term_matches(t, labels) for t in need.node_terms)


def requested_on(pods: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """What the pods request, by node name: every scheduled pod that has not finished, but those
    a workspace (priority 0) preempts, such as the placeholders (spawner.placeholders): their room is a start's."""
    by_node: dict[str, dict[str, float]] = {}
    for pod in pods:
        node = pod.get("spec", {}).get("nodeName")
        if not node or pod.get("status", {}).get("phase") in _FINISHED or (pod["spec"].get("priority") or 0) < 0:
            continue
        used = by_node.setdefault(node, {})
        used["pods"] = used.get("pods", 0.0) + 1
        for resource, value in pod_requests(pod["spec"]).items():
            used[resource] = used.get(resource, 0.0) + value
    return by_node


def _requests(container: Mapping[str, Any]) -> dict[str, float]:
    return {r: amount(v) for r, v in ((container.get("resources") or {}).get("requests") or {}).items()}


def pod_requests(spec: Mapping[str, Any]) -> dict[str, float]:
    """What the scheduler reserves for a pod: per resource, the larger of its containers' sum and
    any one init container's request (they run one at a time, before the others; sidecars, init
    containers with restartPolicy Always, run alongside and add up), plus the overhead."""
    total: dict[str, float] = {}
    sidecars: dict[str, float] = {}
    peak: dict[str, float] = {}
    for container in spec.get("initContainers") or []:
        sidecar = container.get("restartPolicy") == "Always"
        for resource, value in _requests(container).items():
            if sidecar:
                sidecars[resource] = sidecars.get(resource, 0.0) + value
            else:
                peak[resource] = max(peak.get(resource, 0.0), value + sidecars.get(resource, 0.0))
    for container in spec.get("containers") or []:
        for resource, value in _requests(container).items():
            total[resource] = total.get(resource, 0.0) + value
    for resource, value in sidecars.items():
        total[resource] = total.get(resource, 0.0) + value
    for resource, value in peak.items():
        total[resource] = max(total.get(resource, 0.0), value)
    for resource, value in (spec.get("overhead") or {}).items():
        total[resource] = total.get(resource, 0.0) + amount(value)
    return total


def kube_capacity(need: Need, nodes: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]],
                  autoscaling: bool = False) -> Capacity:
    """Whether a pod with ``need`` fits a node now, given every pod scheduled; see the module's docstring."""
    used = requested_on(pods)
    wanted = need.resources()
    fitting = [n for n in nodes if admits(n, need)]
    free_gpus = total_gpus = 0
    room_now = shape_fits = False
    short: dict[str, float] = {}  # resource -> the most any admitting node has
    for node in fitting:
        allocatable = {k: amount(v) for k, v in (node.get("status", {}).get("allocatable") or {}).items()}
        taken = used.get(node["metadata"]["name"], {})
        if need.gpus:
            total_gpus += int(allocatable.get(need.gpu_resource, 0))
            free_gpus += max(int(allocatable.get(need.gpu_resource, 0) - taken.get(need.gpu_resource, 0)), 0)
        if all(allocatable.get(r, 0) >= v for r, v in wanted.items()):
            shape_fits = True
            if all(allocatable.get(r, 0) - taken.get(r, 0) >= v for r, v in wanted.items()):
                room_now = True
        for r in wanted:
            short[r] = max(short.get(r, 0), allocatable.get(r, 0))
    free, total = (free_gpus, total_gpus) if need.gpus else (None, None)
    if room_now:
        return Capacity(READY, f"{_gpus(free_gpus)} free" if need.gpus else "can start now", free, total)
    if autoscaling:
        # the autoscaler's node groups are not visible here: it may add a node of a shape none has now
        return Capacity(SCALE_UP, "needs a scale-up", free, total)
    if shape_fits:
        if need.gpus and free_gpus < need.gpus:
            in_use = total_gpus - free_gpus
            if free_gpus == 0:
                return Capacity(BUSY, f"no GPU free: {in_use} of {total_gpus} in use", free, total)
            return Capacity(BUSY, f"needs {_gpus(need.gpus)}, only {free_gpus} of {total_gpus} free", free, total)
        return Capacity(BUSY, "no room now: the nodes that fit it are full", free, total)
    if not fitting:
        return Capacity(NEVER, "no schedulable node of this cluster matches the profile's node selector, tolerations and affinity",
                        free, total)
    lacking = next(r for r, v in wanted.items() if short.get(r, 0) < v)
    return Capacity(NEVER, f"no node of this cluster has {need.describe(lacking)}", free, total)


# -- Kubernetes: a namespace's ResourceQuotas ---------------------------------------------


def pod_charges(need: Need, cpu_limit: float | None, memory_limit: float | None, storage: float | None) -> dict[str, float]:
    """What a start adds to a namespace's quota: one pod, its requests and limits, and its
    claim when it is made now (``storage``; None when the claim exists already)."""
    charges = {
        "pods": 1.0, "count/pods": 1.0,
        "cpu": need.cpu, "requests.cpu": need.cpu, "memory": need.memory, "requests.memory": need.memory,
        "limits.cpu": cpu_limit if cpu_limit is not None else need.cpu,
        "limits.memory": memory_limit if memory_limit is not None else need.memory,
    }
    if need.gpus:
        charges[f"requests.{need.gpu_resource}"] = float(need.gpus)
    if storage is not None:
        charges.update({"persistentvolumeclaims": 1.0, "count/persistentvolumeclaims": 1.0, "requests.storage": storage})
    return charges


def _show(resource: str, value: float) -> str:
    if "memory" in resource or "storage" in resource:
        return next((f"{value / size:g}{unit}" for unit, size in (("Gi", 2**30), ("Mi", 2**20))
                     if value >= size and value % size == 0), f"{value:g}")
    if "cpu" in resource and value != int(value):
        return f"{value * 1000:g}m"
    return f"{value:g}"


def over_quota(quotas: Iterable[Mapping[str, Any]], charges: Mapping[str, float]) -> str | None:
    """The first quota the charges would exceed, in the API server's words; None when all hold them.

    ``exceeded quota: team-budget, requested: limits.cpu=1, used: limits.cpu=0, limited: limits.cpu=500m``
    """
    for quota in quotas:
        status = quota.get("status") or {}
        hard = status.get("hard") or (quota.get("spec") or {}).get("hard") or {}
        used = status.get("used") or {}
        over = sorted(k for k, limit in hard.items()
                      if charges.get(k) and amount(used.get(k, "0")) + charges[k] > amount(limit))
        if over:
            name = quota["metadata"]["name"]
            return (f"exceeded quota: {name}, requested: " + ",".join(f"{k}={_show(k, charges[k])}" for k in over)
                    + ", used: " + ",".join(f"{k}={used.get(k, '0')}" for k in over)
                    + ", limited: " + ",".join(f"{k}={hard[k]}" for k in over))
    return None


def quota_lines(quotas: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per quota for the form: ``team-budget: limits.cpu 500m of 2 used, pods 1 of 10 used``."""
    lines = []
    for quota in quotas:
        status = quota.get("status") or {}
        hard, used = status.get("hard") or {}, status.get("used") or {}
        if hard:
            figures = ", ".join(f"{k} {used.get(k, '0')} of {v} used" for k, v in sorted(hard.items()))
            lines.append(f"{quota['metadata']['name']}: {figures}")
    return lines
