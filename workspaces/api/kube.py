"""A Kubernetes API client for the service, configured as KubeSpawner configures the hub's:
in-cluster credentials when running in a pod, else $KUBECONFIG."""

from __future__ import annotations

import os

from kubernetes_asyncio import client, config


async def api_client() -> client.ApiClient:
    """Use as ``async with await api_client() as c``."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
    else:
        await config.load_kube_config()
    return client.ApiClient()


async def claim_size(api: client.ApiClient, namespace: str, name: str) -> str | None:
    """The storage a PersistentVolumeClaim asks for; None if there is no such claim."""
    try:
        claim = await client.CoreV1Api(api).read_namespaced_persistent_volume_claim(name, namespace)
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise
    return (claim.spec.resources.requests or {}).get("storage")
