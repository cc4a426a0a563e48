"""Where a pod of a profile may run and what it reserves there, as KubeSpawner traits.

One function for the workspace pod (:mod:`spawner.kubernetes`) and its
placeholders (:mod:`spawner.placeholders`): a placeholder that asked for less,
or could land on other nodes, would keep room that no workspace can use.
The keys are the names of KubeSpawner's traits, which are also the arguments
of ``kubespawner.objects.make_pod``.
"""

from __future__ import annotations

from typing import Any

from workspaces.catalog import Affinity, Profile


def _affinity_traits(affinity: Affinity) -> dict[str, list[dict[str, Any]]]:
    """The profile's affinity, as KubeSpawner's six affinity traits."""

    def terms(items: list[Any]) -> list[dict[str, Any]]:
        return [item.model_dump(exclude_defaults=True) for item in items]

    node, pod, anti = affinity.nodeAffinity, affinity.podAffinity, affinity.podAntiAffinity
    required = node.requiredDuringSchedulingIgnoredDuringExecution if node else None
    return {
        "node_affinity_required": terms(required.nodeSelectorTerms) if required else [],
        "node_affinity_preferred": terms(node.preferredDuringSchedulingIgnoredDuringExecution) if node else [],
        "pod_affinity_required": terms(pod.requiredDuringSchedulingIgnoredDuringExecution) if pod else [],
        "pod_affinity_preferred": terms(pod.preferredDuringSchedulingIgnoredDuringExecution) if pod else [],
        "pod_anti_affinity_required": terms(anti.requiredDuringSchedulingIgnoredDuringExecution) if anti else [],
        "pod_anti_affinity_preferred": terms(anti.preferredDuringSchedulingIgnoredDuringExecution) if anti else [],
    }


def placement_traits(profile: Profile, gpus: int) -> dict[str, Any]:
    """Requests, limits, node selector, tolerations and affinity of a pod of ``profile`` with ``gpus`` GPUs."""
    tolerations = [
        {
            key: value
            for key, value in {
                "key": t.key,
                "operator": t.operator,
                "value": t.value,
                "effect": t.effect,
                "tolerationSeconds": t.toleration_seconds,
            }.items()
            if value is not None
        }
        for t in profile.tolerations
    ]
    return {
        "cpu_limit": profile.cpu.limit,
        "cpu_guarantee": profile.cpu.guarantee,
        "mem_limit": profile.memory.limit_bytes(),
        "mem_guarantee": profile.memory.guarantee_bytes(),
        # extended resources: the limit is the request (Kubernetes requires them equal)
        "extra_resource_limits": {profile.gpu.resource: str(gpus)} if gpus else {},
        "node_selector": dict(profile.node_selector),
        "tolerations": tolerations,
        **_affinity_traits(profile.affinity),
    }
