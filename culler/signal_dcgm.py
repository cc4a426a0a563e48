"""The Kubernetes GPU-idle signal: the NVIDIA DCGM exporter's ``DCGM_FI_DEV_GPU_UTIL``.

With its Kubernetes mapping on, the exporter labels each GPU's series with the
``namespace``, ``pod`` and ``container`` that hold it (empty when no pod does)::

    DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-...",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",
        Hostname="node-1",container="notebook",namespace="ws-alice",pod="ws-alice--train"} 0

The culler reads it from a Prometheus that scrapes the exporters (an instant
query on ``/api/v1/query``) or from the exporters' ``/metrics`` themselves,
parsed with prometheus_client's parser. A workspace is matched by its pod's
namespace *and* name: pod names are predictable, and anybody can make a pod of
that name in a namespace of their own.

Its own HTTP session, without the hub token: what the culler holds for the
hub never goes to an exporter or to Prometheus.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Hashable, Iterable

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from workspaces.config import GpuSignalSettings, KubernetesSettings
from workspaces.naming import object_name, template_namespace

from .signals import GpuWorkspace, Readings, Signal

log = logging.getLogger("workspaces.culler")

METRIC = "DCGM_FI_DEV_GPU_UTIL"


def readings_from_series(
    series: Iterable[tuple[dict[str, str], float]], pod_label: str, namespace_label: str
) -> Readings:
    """Utilisation per (namespace, pod), one value per GPU; GPUs held by no pod are left out."""
    readings = Readings()
    for labels, value in series:
        pod, namespace = labels.get(pod_label), labels.get(namespace_label)
        if pod and namespace:
            readings.by_key.setdefault((namespace, pod), []).append(value)
    return readings


def exporter_series(text: str) -> list[tuple[dict[str, str], float]]:
    """The metric's series in an exporter's text format.

    An exporter's page has dozens of metrics per GPU; only this one's lines go
    to the parser, which is what a pass spends its time on.
    """
    ours = "\n".join(line for line in text.splitlines() if METRIC in line[:40])
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(ours + "\n")
        if family.name == METRIC
        for sample in family.samples
        if sample.name == METRIC
    ]


def prometheus_series(body: dict) -> list[tuple[dict[str, str], float]]:
    """The series of a Prometheus instant-query answer (``resultType: vector``)."""
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus answered {body.get('errorType')}: {body.get('error')}")
    data = body["data"]
    if data.get("resultType") != "vector":
        raise RuntimeError(f"Prometheus answered a {data.get('resultType')}, not a vector")
    return [(item["metric"], float(item["value"][1])) for item in data["result"]]


class DcgmSignal(Signal):
    name = "dcgm"

    def __init__(self, settings: GpuSignalSettings, kubernetes: KubernetesSettings):
        self.settings = settings
        self.kubernetes = kubernetes
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout))
        return self._session

    def key(self, workspace: GpuWorkspace) -> Hashable | None:
        namespace = workspace.namespace  # the spawner records where it put the pod
        if namespace is None and self.kubernetes.namespace_template:
            namespace = template_namespace(self.kubernetes.namespace_template, workspace.user)
        elif namespace is None and not self.kubernetes.kubeflow:
            namespace = self.kubernetes.namespace
        return None if namespace is None else (namespace, object_name(workspace.user, workspace.server))

    async def _get(self, url: str, **params: str) -> bytes:
        async with self.session.get(url, params=params, allow_redirects=False, raise_for_status=True) as response:
            return await response.read()

    async def sample(self) -> Readings:
        s = self.settings
        if s.prometheus_url:
            body = await self._get(f"{s.prometheus_url}/api/v1/query", query=METRIC)
            series = prometheus_series(json.loads(body))
        else:
            texts = await asyncio.gather(*(self._text(url) for url in s.exporter_urls))
            if all(text is None for text in texts):
                raise RuntimeError(f"none of the {len(texts)} exporter(s) answered")
            series = [item for text in texts if text is not None for item in exporter_series(text)]
        return readings_from_series(series, s.pod_label, s.namespace_label)

    async def _text(self, url: str) -> str | None:
        """One exporter's metrics; None when it fails (its pods have no reading this pass)."""
        try:
            return (await self._get(url)).decode()
        except Exception as e:
            log.warning("GPU signal: exporter %s failed: %s: %s", url, type(e).__name__, e)
            return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
