"""Stand-ins for the NVIDIA DCGM exporter and for a Prometheus that scrapes it.

The exporter serves ``/metrics`` in the Prometheus text format, with the labels
dcgm-exporter writes when its Kubernetes mapping is on (a GPU no pod holds has
``pod=""``); the Prometheus stand-in answers ``/api/v1/query`` with the instant
query's JSON (``resultType: vector``, values as strings). Both record the
headers of each request they get.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

METRIC = "DCGM_FI_DEV_GPU_UTIL"


@dataclass(frozen=True)
class Gpu:
    """One GPU of a node, and the pod that holds it (empty names: none)."""

    gpu: int
    utilization: float
    namespace: str = ""
    pod: str = ""
    container: str = "notebook"
    node: str = "gpu-node-1"

    def labels(self) -> dict[str, str]:
        return {
            "gpu": str(self.gpu),
            "UUID": f"GPU-{self.gpu:08x}-1111-2222-3333-{sum(self.node.encode()):012d}",
            "pci_bus_id": f"00000000:{0x31 + self.gpu:02X}:00.0",
            "device": f"nvidia{self.gpu}",
            "modelName": "NVIDIA H100 80GB HBM3",
            "Hostname": self.node,
            "DCGM_FI_DRIVER_VERSION": "550.90.07",
            "container": self.container if self.pod else "",
            "namespace": self.namespace,
            "pod": self.pod,
        }


def metrics_text(gpus: list[Gpu]) -> str:
    """The exporter's page: a few other metrics around DCGM_FI_DEV_GPU_UTIL, as the real one has."""

    def family(name: str, help_: str, value: Any) -> list[str]:
        lines = [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
        for g in gpus:
            labels = ",".join(f'{k}="{v}"' for k, v in g.labels().items())
            lines.append(f"{name}{{{labels}}} {value(g)}")
        return lines

    lines = [
        *family("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", lambda g: 1980),
        *family(METRIC, "GPU utilization (in %).", lambda g: f"{g.utilization:g}"),
        *family("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", lambda g: 512),
    ]
    return "\n".join(lines) + "\n"


def query_answer(gpus: list[Gpu], when: float = 1_764_460_800.0) -> dict[str, Any]:
    """Prometheus's answer to the instant query ``DCGM_FI_DEV_GPU_UTIL`` over what it scraped."""
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"__name__": METRIC, **g.labels(), "instance": "10.0.0.5:9400", "job": "dcgm-exporter"},
                 "value": [when, f"{g.utilization:g}"]}
                for g in gpus
            ],
        },
    }


class DcgmStandIn:
    """One HTTP server on loopback: ``/metrics`` as an exporter, ``/api/v1/query`` as Prometheus."""

    def __init__(self, gpus: list[Gpu] | None = None):
        self.gpus = list(gpus or [])
        self.requests: list[dict[str, str]] = []  # the headers of each request
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                stand_in.requests.append(dict(self.headers))
                url = urlsplit(self.path)
                if url.path == "/metrics":
                    self._send(200, "text/plain; version=0.0.4; charset=utf-8", metrics_text(stand_in.gpus))
                elif url.path == "/api/v1/query" and parse_qs(url.query).get("query") == [METRIC]:
                    self._send(200, "application/json", json.dumps(query_answer(stand_in.gpus)))
                else:
                    self._send(404, "text/plain", "not found\n")

            def _send(self, status: int, content_type: str, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> DcgmStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
