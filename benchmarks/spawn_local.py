"""Create-to-ready latency of a local workspace: Workspaces against plain JupyterHub.

Two hubs run side by side on this machine, on loopback:

- ours:  ``workspaces up`` (LocalWorkspaceSpawner, spec validated against the catalog)
- plain: JupyterHub with SimpleLocalProcessSpawner and the same server command

Cycles alternate between them: POST a named server, time until it is ready
(JupyterHub answers 201 once the server responds and the proxy routes it),
then stop it (not timed). The last line is::

    RESULT spawn_local n=<N> ours_median_s=<x> plain_median_s=<y> ratio=<x/y>

Run: ``.venv/bin/python benchmarks/spawn_local.py --n 10``
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SERVER_CMD = [sys.executable, "-m", "jupyterhub.singleuser"]
SETTLE_S = 1.5


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class HubUnderTest:
    def __init__(self, name: str, argv: list[str], port: int, token: str, spec: dict, workdir: Path):
        self.name, self.port, self.token, self.spec = name, port, token, spec
        self.log = open(workdir / f"{name}.log", "wb")
        self.proc = subprocess.Popen(argv, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.base = f"http://127.0.0.1:{port}/hub/api"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.base}/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} hub did not start; see {self.log.name}")
            time.sleep(0.2)
        r = self.api("POST", "/users/bench")
        if r.status_code not in (201, 409):
            raise SystemExit(f"{name}: cannot create the user: {r.status_code} {r.text[:200]}")

    def api(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, self.base + path, headers={"Authorization": f"token {self.token}"}, timeout=120, **kw)

    def server(self, name: str) -> dict | None:
        return self.api("GET", "/users/bench").json()["servers"].get(name)

    def cycle(self, i: int) -> float:
        name = f"b{i}"
        started = time.perf_counter()
        r = self.api("POST", f"/users/bench/servers/{name}", json=self.spec)
        if r.status_code == 202:
            while not (self.server(name) or {}).get("ready"):
                time.sleep(0.02)
        elif r.status_code != 201:
            raise SystemExit(f"{self.name}: spawn failed: {r.status_code} {r.text[:300]}; see {self.log.name}")
        elapsed = time.perf_counter() - started
        self.api("DELETE", f"/users/bench/servers/{name}", json={"remove": True})
        deadline = time.monotonic() + 60
        while self.server(name) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        # let the stopped server's exit finish before the next timed start: on
        # 2 cores it otherwise competes with the next spawn for CPU
        time.sleep(SETTLE_S)
        return elapsed

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
        self.log.close()


def service_config(token: str) -> str:
    return textwrap.dedent(
        f"""
        c.JupyterHub.services = [{{"name": "bench", "api_token": {token!r}}}]
        c.JupyterHub.load_roles = [{{"name": "bench", "scopes": ["admin:users", "admin:servers"], "services": ["bench"]}}]
        """
    )


def start_ours(workdir: Path, token: str) -> HubUnderTest:
    port, hub_port, api_port = free_ports(3)
    (workdir / "ours").mkdir()
    (workdir / "ours" / "extra.py").write_text("c = get_config()\n" + service_config(token))
    config = workdir / "ours" / "workspaces.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            hub: {{port: {port}, hub_port: {hub_port}, proxy_api_port: {api_port}, extra_config: extra.py}}
            local: {{gpus: none}}
            catalog: {REPO / 'images' / 'catalog.yaml'}
            profiles: {REPO / 'config' / 'profiles.yaml'}
            """
        )
    )
    argv = [str(BIN / "workspaces"), "up", "--config", str(config), "--data-dir", str(workdir / "ours" / "data")]
    return HubUnderTest("ours", argv, port, token, {"image": "jupyter-minimal", "profile": "cpu-small"}, workdir)


def start_plain(workdir: Path, token: str) -> HubUnderTest:
    port, hub_port, api_port = free_ports(3)
    data = workdir / "plain"
    data.mkdir()
    proxy = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
    (data / "jupyterhub_config.py").write_text(
        textwrap.dedent(
            f"""
            c = get_config()
            c.JupyterHub.ip = "127.0.0.1"; c.JupyterHub.port = {port}
            c.JupyterHub.hub_ip = "127.0.0.1"; c.JupyterHub.hub_port = {hub_port}
            c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
            c.ConfigurableHTTPProxy.command = [{str(proxy)!r}]
            c.JupyterHub.db_url = "sqlite:///{data}/jupyterhub.sqlite"
            c.JupyterHub.cookie_secret_file = "{data}/cookie_secret"
            c.JupyterHub.allow_named_servers = True
            c.JupyterHub.cleanup_servers = False
            c.JupyterHub.authenticator_class = "dummy"
            c.JupyterHub.spawner_class = "simple"
            c.SimpleLocalProcessSpawner.home_dir_template = "{data}/homes/{{username}}"
            c.Spawner.cmd = {SERVER_CMD!r}
            c.Spawner.args = {["--allow-root"] if os.geteuid() == 0 else []!r}
            c.Spawner.default_url = "/lab"
            """
        )
        + service_config(token)
    )
    argv = [sys.executable, "-m", "jupyterhub", "-f", str(data / "jupyterhub_config.py")]
    return HubUnderTest("plain", argv, port, token, {}, workdir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="create-to-ready cycles per hub (default 10)")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="bench-spawn-local-"))
    token = secrets.token_hex(16)
    hubs = []
    done = False
    try:
        hubs = [start_ours(workdir, token), start_plain(workdir, token)]
        times: dict[str, list[float]] = {h.name: [] for h in hubs}
        for hub in hubs:  # one warm-up cycle each: imports and first-run caches
            hub.cycle(-1)
        for i in range(args.n):
            order = hubs if i % 2 == 0 else hubs[::-1]
            for hub in order:
                times[hub.name].append(hub.cycle(i))
            print(f"cycle {i + 1}/{args.n}: ours {times['ours'][-1]:.3f}s  plain {times['plain'][-1]:.3f}s", flush=True)
        done = True
    finally:
        for hub in hubs:
            hub.close()
        if done:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"logs kept in {workdir}", file=sys.stderr)

    ours, plain = statistics.median(times["ours"]), statistics.median(times["plain"])
    print(f"ours:  median {ours:.3f}s  min {min(times['ours']):.3f}s  max {max(times['ours']):.3f}s")
    print(f"plain: median {plain:.3f}s  min {min(times['plain']):.3f}s  max {max(times['plain']):.3f}s")
    print(f"RESULT spawn_local n={args.n} ours_median_s={ours:.3f} plain_median_s={plain:.3f} ratio={ours / plain:.3f}")


if __name__ == "__main__":
    main()
