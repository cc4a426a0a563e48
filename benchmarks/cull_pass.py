"""One cull pass over N running servers: the Workspaces culler against jupyterhub-idle-culler 2.x.

Both run against the same stand-in of the hub, in a separate process on
loopback: it serves the hub's ``GET /hub/api/users?state=ready`` JSON pages
(JupyterHub 6 pagination) for N users with one running named server each,
half of them idle past the timeout and started two days ago, and answers the
stop requests (``DELETE /hub/api/users/{u}/servers/{s}``, both cullers). The
stand-in never changes state, so both cullers see the same hub, and it counts
every request.

Ours leaves idle stops to the servers themselves, so to do the same work in the
pass it enforces a max_age of 36 hours, which picks the same half; the peer
stops on hub activity with the timeout. Same concurrency, and both must stop
exactly the same servers.

Every server holds one GPU, and the stand-in also serves the NVIDIA DCGM
exporter's ``/metrics`` page with one ``DCGM_FI_DEV_GPU_UTIL`` series per
workspace pod. A third run is ours again with a ``gpu_idle`` rule, so the pass
also reads that page (once) and matches each workspace to its series:
``gpu_pass_s`` is that whole pass, ``gpu_signal_s`` the read of the signal in it.
Last line::

    RESULT cull_pass n=<N> ours_s=<x> peer_s=<y> ratio=<x/y> ours_requests=<a> peer_requests=<b> gpu_pass_s=<g> gpu_signal_s=<s>

Run: ``.venv/bin/python benchmarks/cull_pass.py --n 5000``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlparse

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the DCGM exporter stand-in is the tests' own

TIMEOUT_S = 3600
MAX_AGE_S = 36 * 3600
CONCURRENCY = 10
PAGE_SIZE = 200


# -- the stand-in hub (runs in its own process) -------------------------------


def serve(port: int, n: int) -> None:
    from tornado import web

    from tests.support.dcgm_exporter import Gpu, metrics_text
    from workspaces.naming import object_name
    from tornado.ioloop import IOLoop

    now = datetime.now(timezone.utc)
    users = []
    for i in range(n):
        idle = i % 2 == 0  # every other server is idle, and older
        server = {
            "name": "ws",
            "full_name": f"user{i}/ws",
            "ready": True,
            "pending": None,
            "stopped": False,
            "url": f"/user/user{i}/ws/",
            "started": (now - timedelta(days=2 if idle else 1)).isoformat().replace("+00:00", "Z"),
            "last_activity": (now - timedelta(seconds=2 * TIMEOUT_S if idle else 60)).isoformat().replace("+00:00", "Z"),
            "user_options": {"image": "jupyter-minimal", "profile": "gpu-small", "gpus": 1, "namespace": f"ws-user{i}"},
            "progress_url": f"/hub/api/users/user{i}/servers/ws/progress",
        }
        users.append({"kind": "user", "name": f"user{i}", "admin": False, "groups": [], "servers": {"ws": server}})
    counts: dict[str, int] = {}
    stopped: list[str] = []
    # one GPU per workspace pod, every other one idle
    dcgm_page = metrics_text(
        [Gpu(i % 8, 0 if i % 2 else 50, f"ws-user{i}", object_name(f"user{i}", "ws"), node=f"node-{i // 8}") for i in range(n)]
    )

    class Base(web.RequestHandler):
        def prepare(self) -> None:
            key = f"{self.request.method} {self.request.path.split('/')[3] if self.request.path.startswith('/hub/api/') else 'server'}"
            counts[key] = counts.get(key, 0) + 1

    class Root(Base):
        def get(self) -> None:
            self.write({"version": "6.1.1"})

    class Users(Base):
        def get(self) -> None:
            q = parse_qs(urlparse(self.request.uri).query)
            offset, limit = int(q.get("offset", ["0"])[0]), int(q.get("limit", [str(PAGE_SIZE)])[0])
            items = users[offset : offset + limit]
            if "application/jupyterhub-pagination+json" in self.request.headers.get("Accept", ""):
                nxt = offset + limit
                url = f"{self.request.protocol}://{self.request.host}/hub/api/users?state=ready&offset={nxt}&limit={limit}"
                following = {"offset": nxt, "limit": limit, "url": url} if nxt < len(users) else None
                self.write({"items": items, "_pagination": {"offset": offset, "limit": limit, "total": len(users), "next": following}})
            else:
                self.set_header("Content-Type", "application/json")
                self.write(json.dumps(items))

    class HubStop(Base):
        def delete(self, user: str, name: str) -> None:
            stopped.append(f"{user}/{name}")
            self.set_status(204)

    class Exporter(web.RequestHandler):
        def get(self) -> None:
            self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.write(dcgm_page)

    class Control(web.RequestHandler):
        def get(self) -> None:
            self.write({"counts": counts, "stopped": sorted(stopped)})

        def delete(self) -> None:
            counts.clear()
            stopped.clear()

    app = web.Application(
        [
            (r"/hub/api/", Root),
            (r"/hub/api/users", Users),
            (r"/hub/api/users/([^/]+)/servers/([^/]+)", HubStop),
            (r"/_control", Control),
            (r"/metrics", Exporter),
        ]
    )
    app.listen(port, "127.0.0.1")
    IOLoop.current().start()


# -- the two cullers -------------------------------------------------------------


async def run_ours(base: str) -> None:
    from culler.cull import Culler
    from culler.hub import HubClient
    from workspaces.config import CullingPolicy

    policy = CullingPolicy(
        default_timeout=TIMEOUT_S, startup_grace=0, max_age=MAX_AGE_S, concurrency=CONCURRENCY, page_size=PAGE_SIZE
    )
    client = HubClient(f"{base}/hub/api", "bench-token", connections=CONCURRENCY)
    try:
        await Culler(client, policy, catalog=None).run_pass()
    finally:
        await client.close()


async def run_ours_with_gpu_signal(base: str) -> float:
    """Ours with a gpu_idle rule, the signal read from the stand-in exporter; the signal's seconds."""
    from culler.cull import Culler
    from culler.hub import HubClient
    from culler.signal_dcgm import DcgmSignal
    from workspaces.config import CullingPolicy, GpuSignalSettings, KubernetesSettings

    rule = {"match": {"gpu": True}, "timeout": TIMEOUT_S, "gpu_idle": {"below_percent": 5, "for": "30m"}}
    policy = CullingPolicy(
        default_timeout=TIMEOUT_S, startup_grace=0, max_age=MAX_AGE_S, concurrency=CONCURRENCY, page_size=PAGE_SIZE,
        rules=[rule],
    )
    signal = DcgmSignal(GpuSignalSettings(exporter_urls=[f"{base}/metrics"]), KubernetesSettings())
    client = HubClient(f"{base}/hub/api", "bench-token", connections=CONCURRENCY)
    culler = Culler(client, policy, catalog=None, gpu_signal=signal)
    try:
        await culler.run_pass()
    finally:
        await client.close()
        await signal.close()
    read = sum(1 for d in culler.decisions.values() if d.gpu and d.gpu.startswith("GPU at"))
    kept = sum(1 for d in culler.decisions.values() if d.action == "kept")
    if read != kept:
        raise SystemExit(f"the GPU signal read {read} of the {kept} workspaces it had to")
    return culler.metrics.gpu_signal_duration._sum.get()


async def run_peer(base: str) -> None:
    from jupyterhub_idle_culler import cull_idle

    await cull_idle(
        f"{base}/hub/api",
        "bench-token",
        TIMEOUT_S,
        logging.getLogger("idle-culler"),
        concurrency=CONCURRENCY,
        api_page_size=PAGE_SIZE,
    )


def control(base: str, method: str = "GET") -> dict:
    import requests

    r = requests.request(method, f"{base}/_control", timeout=30)
    return r.json() if method == "GET" else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="running servers (default 5000)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.n)
        return
    if args.n < 1:
        parser.error("--n must be at least 1")
    logging.basicConfig(level=logging.WARNING)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    standin = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--n", str(args.n)], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                control(base)
                break
            except Exception:
                if time.monotonic() > deadline or standin.poll() is not None:
                    raise SystemExit("the stand-in hub did not start")
                time.sleep(0.1)

        results = {}
        for name, run in (("ours", run_ours), ("peer", run_peer), ("ours", run_ours), ("peer", run_peer)):
            control(base, "DELETE")
            started = time.perf_counter()
            asyncio.run(run(base))
            elapsed = time.perf_counter() - started
            seen = control(base)
            # keep the second of two runs each: the first warms imports and caches
            results[name] = (elapsed, sum(seen["counts"].values()), seen["stopped"], seen["counts"])
            print(f"{name}: {elapsed:.3f}s, {sum(seen['counts'].values())} requests {seen['counts']}, {len(seen['stopped'])} stopped", flush=True)

        for _ in range(2):  # the second of two, as above
            control(base, "DELETE")
            started = time.perf_counter()
            signal_s = asyncio.run(run_ours_with_gpu_signal(base))
            gpu_pass_s = time.perf_counter() - started
        gpu_stopped = control(base)["stopped"]
    finally:
        os.kill(standin.pid, signal.SIGTERM)
        standin.wait(10)

    ours, peer = results["ours"], results["peer"]
    if ours[2] != peer[2]:
        raise SystemExit(f"the cullers disagree: ours stopped {len(ours[2])}, peer {len(peer[2])}")
    print(f"same decisions: both stopped the same {len(ours[2])} of {args.n} servers")
    if gpu_stopped != ours[2]:
        raise SystemExit(f"with the GPU signal, ours stopped {len(gpu_stopped)}, not the same {len(ours[2])}")
    print(f"ours with the GPU signal: {gpu_pass_s:.3f}s, of which {signal_s:.3f}s reading the exporter's {args.n} series", flush=True)
    print(
        f"RESULT cull_pass n={args.n} ours_s={ours[0]:.3f} peer_s={peer[0]:.3f} ratio={ours[0] / peer[0]:.3f} "
        f"ours_requests={ours[1]} peer_requests={peer[1]} gpu_pass_s={gpu_pass_s:.3f} gpu_signal_s={signal_s:.3f}"
    )


if __name__ == "__main__":
    main()
