"""Create-to-ready latency of a local workspace: Workspaces against plain JupyterHub.

Two hubs run side by side on this machine, on loopback:

- ours:  ``workspaces up`` (LocalWorkspaceSpawner, spec validated against the catalog),
  warm starts off (``local.warm_pool.size: 0``): a cold start, as plain JupyterHub's
- plain: JupyterHub with SimpleLocalProcessSpawner and the same server command
- warm (``--warm``): ``workspaces up`` with one warm process for the image
  (spawner.warm); each start is the workspaces API's ``POST /workspaces``

Cycles alternate between them: POST a named server, time until it is ready
(JupyterHub answers 201 once the server responds and the proxy routes it;
for warm, until the hub says the server is ready), then stop it (not timed).
Before a warm cycle the pool's replacement process has finished its imports,
as it has on a hub whose starts are not back to back. The last line is::

    RESULT spawn_local n=<N> ours_median_s=<x> plain_median_s=<y> ratio=<x/y> [warm_median_s=<w> warm_ratio=<w/y>]

Run: ``.venv/bin/python benchmarks/spawn_local.py --n 10 --warm``
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
from collections.abc import Callable
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
    def __init__(self, name: str, argv: list[str], port: int, token: str, spec: dict, workdir: Path,
                 workspaces_api: bool = False, before_cycle: Callable[[], None] | None = None):
        self.name, self.port, self.token, self.spec = name, port, token, spec
        self.workspaces_api, self.before_cycle = workspaces_api, before_cycle
        self.log = open(workdir / f"{name}.log", "wb")
        self.proc = subprocess.Popen(argv, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.base = f"http://127.0.0.1:{port}/hub/api"
        try:
            self._wait_up()
        except BaseException:
            self.close()  # a hub that did not come up must not outlive the run
            raise

    def _wait_up(self) -> None:
        name = self.name
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
        while self.workspaces_api and self.ws("GET", "/workspaces", params={"limit": "1"}).status_code != 200:
            # the API is a hub service: the proxy routes to it once it is up
            if self.proc.poll() is not None or time.monotonic() > deadline + 60:
                raise SystemExit(f"{name}: the workspaces API did not come up; see {self.log.name}")
            time.sleep(0.2)

    def api(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, self.base + path, headers={"Authorization": f"token {self.token}"}, timeout=120, **kw)

    def server(self, name: str) -> dict | None:
        return self.api("GET", "/users/bench").json()["servers"].get(name)

    def ws(self, method: str, path: str, **kw) -> requests.Response:
        """The workspaces API, through the hub's proxy."""
        url = f"http://127.0.0.1:{self.port}/services/workspaces/api/v1{path}"
        return requests.request(method, url, headers={"Authorization": f"token {self.token}"}, timeout=120, **kw)

    def create(self, name: str) -> tuple[requests.Response, bool]:
        """Ask for the server; and whether it may still be starting."""
        if self.workspaces_api:
            r = self.ws("POST", "/workspaces", json={"owner": "bench", "name": name, "spec": self.spec})
            return r, True  # 201 with the workspace pending or running: ready is when the hub says so
        r = self.api("POST", f"/users/bench/servers/{name}", json=self.spec)
        return r, r.status_code == 202

    def cycle(self, i: int) -> float:
        name = f"b{i}"
        if self.before_cycle is not None:
            self.before_cycle()
        started = time.perf_counter()
        r, starting = self.create(name)
        if r.status_code not in (201, 202):
            raise SystemExit(f"{self.name}: spawn failed: {r.status_code} {r.text[:300]}; see {self.log.name}")
        while starting and not (self.server(name) or {}).get("ready"):
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        if self.workspaces_api:
            self.ws("DELETE", f"/workspaces/bench/{name}")
        else:
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


def service_config(token: str, scopes: tuple[str, ...] = ()) -> str:
    return textwrap.dedent(
        f"""
        # appended: ours has services of its own (the workspaces API, the culler)
        c.JupyterHub.services.append({{"name": "bench", "api_token": {token!r}}})
        c.JupyterHub.load_roles.append({{"name": "bench", "scopes": {["admin:users", "admin:servers", *scopes]!r}, "services": ["bench"]}})
        """
    )


def start_ours(workdir: Path, token: str, name: str = "ours", warm_pool: int = 0) -> HubUnderTest:
    port, hub_port, api_port, ws_port, culler_port = free_ports(5)
    (workdir / name).mkdir()
    # the workspaces API service, for the warm hub's starts
    (workdir / name / "extra.py").write_text("c = get_config()\n" + service_config(token, ("access:services",)))
    config = workdir / name / "workspaces.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            hub: {{port: {port}, hub_port: {hub_port}, proxy_api_port: {api_port}, extra_config: extra.py}}
            api: {{port: {ws_port}}}
            culling: {{port: {culler_port}}}
            local: {{gpus: none, warm_pool: {{size: {warm_pool}}}}}
            catalog: {REPO / 'images' / 'catalog.yaml'}
            profiles: {REPO / 'config' / 'profiles.yaml'}
            """
        )
    )
    data = workdir / name / "data"
    argv = [str(BIN / "workspaces"), "up", "--config", str(config), "--data-dir", str(data)]
    spec = {"image": "jupyter-minimal", "profile": "cpu-small"}
    if not warm_pool:
        return HubUnderTest(name, argv, port, token, spec, workdir)
    return HubUnderTest(name, argv, port, token, spec, workdir, workspaces_api=True,
                        before_cycle=lambda: wait_warm(data / "warm"))


def wait_warm(sockets: Path, timeout: float = 120) -> None:
    """Until a warm process waits with its imports done: listening, and asleep on two looks in a row."""
    deadline = time.monotonic() + timeout
    asleep = 0
    while asleep < 2:
        pids = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _warm_process_of(p, sockets)]
        asleep = asleep + 1 if pids and all(_state(p) == "S" for p in pids) else 0
        if time.monotonic() > deadline:
            raise SystemExit(f"no warm process became ready in {sockets} within {timeout}s")
        time.sleep(0.1)


def _warm_process_of(proc: Path, sockets: Path) -> bool:
    try:
        return "warm_process.py" in (cmd := (proc / "cmdline").read_text()) and str(sockets) in cmd
    except OSError:
        return False


def _state(proc: Path) -> str:
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


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
    parser.add_argument("--warm", action="store_true", help="also a hub with warm starts (local.warm_pool.size 1)")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="bench-spawn-local-"))
    # as root, workspaces run as their users' accounts, which must pass through to their folders
    workdir.chmod(0o711)
    token = secrets.token_hex(16)
    hubs = []
    done = False
    try:
        hubs = [start_ours(workdir, token), start_plain(workdir, token)]
        if args.warm:
            hubs.append(start_ours(workdir, token, "warm", warm_pool=1))
        times: dict[str, list[float]] = {h.name: [] for h in hubs}
        for hub in hubs:  # one warm-up cycle each: imports and first-run caches
            hub.cycle(-1)
        for i in range(args.n):
            order = hubs if i % 2 == 0 else hubs[::-1]
            for hub in order:
                times[hub.name].append(hub.cycle(i))
            print(f"cycle {i + 1}/{args.n}: " + "  ".join(f"{h} {t[-1]:.3f}s" for h, t in times.items()), flush=True)
        done = True
    finally:
        for hub in hubs:
            hub.close()
        if done:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"logs kept in {workdir}", file=sys.stderr)

    for name, t in times.items():
        print(f"{name + ':':6} median {statistics.median(t):.3f}s  min {min(t):.3f}s  max {max(t):.3f}s")
    ours, plain = statistics.median(times["ours"]), statistics.median(times["plain"])
    result = f"RESULT spawn_local n={args.n} ours_median_s={ours:.3f} plain_median_s={plain:.3f} ratio={ours / plain:.3f}"
    if args.warm:
        warm = statistics.median(times["warm"])
        result += f" warm_median_s={warm:.3f} warm_ratio={warm / plain:.3f}"
    print(result)


if __name__ == "__main__":
    main()
