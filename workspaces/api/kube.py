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
