"""Read a pod and its events: has its start already failed, and why?

KubeSpawner waits for a pod to become ready until ``start_timeout`` (minutes),
even when the cluster said long ago that it never will: no node has the GPUs,
the image cannot be pulled, the server crashes on start. :func:`pod_failure`
recognises those answers so the spawn can end within seconds, with the
cluster's own words in the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Waiting reasons of a container that will not start by itself.
PULL_FAILURES = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
CONFIG_FAILURES = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
CRASH = "CrashLoopBackOff"

# Scheduling failures that resolve themselves: a PVC still being provisioned
# (Immediate binding), a cluster autoscaler adding a node, a preemption under way.
TRANSIENT_SCHEDULING = ("unbound immediate PersistentVolumeClaims",)
# The scheduler's cache not holding a claim yet: the spawner makes the workspace's claim before
# its pod, and data volumes' claims are checked to exist before the pod is made, so "not found"
# is the scheduler a moment behind (it schedules again once it sees the claim).
CLAIM_NOT_SEEN_YET = re.compile(r'persistentvolumeclaim "[^"]*" not found')
SCALE_UP = "TriggeredScaleUp"
# A claim's provisioner gave up on it. Provisioners try again with a backoff,
# so this is final only when the class itself does not exist.
PROVISIONING_FAILED = "ProvisioningFailed"
NO_SUCH_CLASS = re.compile(r'storageclass\.storage\.k8s\.io "[^"]*" not found')
NO_SCALE_UP = "NotTriggerScaleUp"  # the autoscaler has looked and cannot help


@dataclass(frozen=True)
class PodFailure:
    reason: str  # unschedulable, storage, image, config, crash, exited
    message: str
    status_code: int  # for the hub's answer: 503 no capacity, 502 the workspace itself failed
    # False: the cluster may still change its mind (an autoscaler may not have
    # looked yet), so the caller may give it a grace period
    final: bool = True


def pod_failure(pod: dict[str, Any] | None, events: Iterable[dict[str, Any]] = ()) -> PodFailure | None:
    """The reason ``pod`` will never become ready, or None while it still may."""
    if not pod or pod.get("metadata", {}).get("deletionTimestamp"):
        return None
    events = list(events)
    status = pod.get("status") or {}
    for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        failure = _container_failure(container)
        if failure:
            return failure
    if status.get("phase") in ("Failed", "Succeeded"):
        return PodFailure("exited", f"the workspace server stopped during start (pod phase {status['phase']})", 502)
    return _scheduling_failure(status, events)


def _container_failure(container: dict[str, Any]) -> PodFailure | None:
    state = container.get("state") or {}
    name = container.get("name", "")
    waiting = state.get("waiting") or {}
    reason = waiting.get("reason", "")
    detail = f": {waiting['message']}" if waiting.get("message") else ""
    if reason in PULL_FAILURES:
        image = container.get("image", "")
        return PodFailure("image", f"image {image} cannot be pulled ({reason}{detail})", 502)
    if reason in CONFIG_FAILURES:
        return PodFailure("config", f"container {name} cannot be created ({reason}{detail})", 502)
    if reason == CRASH:
        last = (container.get("lastState") or {}).get("terminated") or {}
        code = f", last exit code {last['exitCode']}" if "exitCode" in last else ""
        return PodFailure("crash", f"the workspace server keeps crashing ({reason}{code}{detail})", 502)
    terminated = state.get("terminated")
    if terminated and name == "notebook":
        why = f" ({terminated['reason']})" if terminated.get("reason") else ""
        code = terminated.get("exitCode", "?")
        return PodFailure("exited", f"the workspace server exited with code {code}{why} during start", 502)
    return None


def _scheduling_failure(status: dict[str, Any], events: list[dict[str, Any]]) -> PodFailure | None:
    conditions = status.get("conditions") or []
    if any(c.get("type") == "PodScheduled" and c.get("status") == "True" for c in conditions):
        return None  # earlier FailedScheduling events are history
    if status.get("nominatedNodeName") or any(e.get("reason") == SCALE_UP for e in events):
        return None  # room is being made; start_timeout still bounds the wait
    messages = [
        c.get("message", "")
        for c in status.get("conditions") or []
        if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable"
    ]
    messages += [e.get("message", "") for e in events if e.get("reason") == "FailedScheduling"]
    final = any(e.get("reason") == NO_SCALE_UP for e in events)
    for message in messages:
        if not any(marker in message for marker in TRANSIENT_SCHEDULING) and not CLAIM_NOT_SEEN_YET.search(message):
            return PodFailure("unschedulable", f"no node can run this workspace: {message}".rstrip(": "), 503, final)
    return None


def claim_failure(events: Iterable[dict[str, Any]]) -> PodFailure | None:
    """The reason the workspace's claim will never be provisioned (its newest word), or None.

    ``events`` are the claim's own; while it waits, its pod only says that it
    has an unbound claim, which is also what a claim being provisioned says.
    """
    failed = [e for e in events if e.get("reason") == PROVISIONING_FAILED]
    if not failed:
        return None
    message = failed[-1].get("message", "")
    return PodFailure(
        "storage",
        f"the workspace's storage cannot be provisioned: {message}",
        503,
        final=bool(NO_SUCH_CLASS.search(message)),
    )
