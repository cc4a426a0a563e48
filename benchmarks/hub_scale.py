"""The whole hub at scale: listing workspaces and a cull pass with 10,000 users and 2,000 running workspaces.

One real hub (``workspaces up``, local backend, the test catalog and profiles),
filled as ``api_list`` fills it (its ``populate``: ``--users`` users with two
stopped workspaces each, written with JupyterHub's ORM), then ``--running`` of
those workspaces made running, spread evenly over the users:

- each gets a ``Server`` row (127.0.0.1, the port of one shared stub, its own
  ``/user/<owner>/<name>/`` prefix) and the spawner state ``{"pid": <stub pid>}``;
- the stub is one small HTTP server in a child process that answers every
  request 200 with the hub's version header, and it stands in for the running
  notebook servers, which a 2-core machine cannot hold 2,000 of. Nothing else is
  a stand-in: when the hub starts again it checks each of them the way it checks
  real ones after a restart (the local spawner's own ``poll`` finds the process
  alive; the hub then asks the server's URL for an answer and adds its route to
  the proxy), and from then on the hub, the proxy, the workspaces API and the
  culler see 2,000 ready servers. The hub polls each one every
  ``Spawner.poll_interval``, JupyterHub's default 30 s (the tests' hub sets 1 s).

Then, through the proxy and with the same admin service token, ``api_list``'s
comparison, interleaved page by page: ours, ``GET /workspaces?limit=200``
following ``next`` (each workspace must come back with its spec, and in state
``running`` or ``stopped`` as made); the hub's own ``GET /hub/api/users``,
100 users (200 workspaces) per page, ``include_stopped_servers``. One warm-up
pass, then ``--rounds`` counted passes; p50 and p99 (nearest rank) are over every
counted page request of a side.

Then ``--passes`` cull passes of the real culler (``python -m culler --once``,
the pass the culler service runs on its timer, with the workspaces.yaml the hub
runs and a token with exactly the culler's scopes), each timed by the culler
itself (its report's ``seconds``: paging through the hub's ready servers and
deciding on each); every pass must inspect all ``--running`` workspaces.
``cull_pass_s`` is the slowest. Last line::

    RESULT hub_scale n=<users> running=<R> ours_p50_ms=<a> ours_p99_ms=<b> hub_p50_ms=<c> hub_p99_ms=<d> ratio_p99=<b/d> cull_pass_s=<s>

Run: ``.venv/bin/python benchmarks/hub_scale.py --users 10000 --running 2000``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from api_list import NAMES, PAGINATION, HubUsers, Ours, breakdown, list_figures, one_round, percentile, populate  # noqa: E402
from tests.support.hub import Hub, wait_for  # noqa: E402

# JupyterHub's own default; the tests' hub polls every second, which at 2,000
# servers would be 2,000 polls a second that no deployed hub makes
POLL_INTERVAL_S = 30

STUB = """
import http.server, sys
import jupyterhub

class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("X-JupyterHub-Version", jupyterhub.__version__)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass

# the hub checks every server at once after its restart: a backlog for all of them
http.server.ThreadingHTTPServer.request_queue_size = 4096
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class Stub:
    """The one process that answers for every running notebook server."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", STUB], stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.pid = self.proc.pid

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def make_running(hub: Hub, expected: dict[tuple[str, str], dict], count: int, stub: Stub) -> set[tuple[str, str]]:
    """Give ``count`` of the written workspaces, spread evenly, a server at the stub; return which."""
    from jupyterhub import orm
    from sqlalchemy import insert, select, update

    keys = list(expected)
    chosen = [keys[i * len(keys) // count] for i in range(count)]
    session = orm.new_session_factory(f"sqlite:///{hub.data_dir / 'jupyterhub.sqlite'}")()
    first = (session.execute(select(orm.Server.id).order_by(orm.Server.id.desc())).scalar() or 0) + 1
    session.execute(
        insert(orm.Server),
        [
            {"id": first + i, "proto": "http", "ip": "127.0.0.1", "port": stub.port, "base_url": f"/user/{owner}/{name}/"}
            for i, (owner, name) in enumerate(chosen)
        ],
    )
    ids = dict(session.execute(select(orm.User.name, orm.User.id)).all())
    for i, (owner, name) in enumerate(chosen):
        session.execute(
            update(orm.Spawner)
            .where(orm.Spawner.user_id == ids[owner], orm.Spawner.name == name)
            .values(server_id=first + i, state={"pid": stub.pid})
        )
    session.commit()
    session.close()
    return set(chosen)


class OursAtScale(Ours):
    """Ours, where the made-running workspaces must be listed running."""

    running: set[tuple[str, str]] = set()

    def take(self, body: dict) -> None:
        for ws in body["items"]:
            key = (ws["owner"], ws["name"])
            want = "running" if key in self.running else "stopped"
            if key in self.seen:
                raise SystemExit(f"ours: {key} listed twice")
            if key in self.expected and (ws["spec"] != self.expected[key] or ws["state"] != want):
                raise SystemExit(f"ours: {key} is {ws['state']} with spec {ws['spec']}, expected {want} {self.expected[key]}")
            self.seen[key] = ws
        self.cursor = body["next"]
        self.done = self.cursor is None


def ready_count(hub: Hub) -> int:
    """Servers the hub has found ready. Not the ``state=ready`` total: the hub counts every
    server with a record there, checked yet or not, so the items are counted."""
    ready, offset = 0, 0
    while offset is not None:
        r = requests.get(f"{hub.url}/hub/api/users", params={"state": "ready", "offset": str(offset), "limit": "200"},
                         timeout=60, headers={"Authorization": f"token {hub.admin_token}", "Accept": PAGINATION})
        if r.status_code != 200:
            return -1
        body = r.json()
        ready += sum(bool(server.get("ready")) for user in body["items"] for server in (user.get("servers") or {}).values())
        offset = (body["_pagination"].get("next") or {}).get("offset")
    return ready


def cull_pass(hub: Hub) -> dict:
    """One pass of the real culler, as its service runs it; its report."""
    env = {
        **os.environ,
        "JUPYTERHUB_API_TOKEN": hub.culler_token,
        "JUPYTERHUB_API_URL": f"http://127.0.0.1:{hub.hub_port}/hub/api",
        "WORKSPACES_DATA_DIR": str(hub.data_dir),
    }
    done = subprocess.run(
        [sys.executable, "-m", "culler", "--config", str(hub.config_file), "--once"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"the cull pass failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["report"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10000, help="users, two workspaces each (default 10000)")
    parser.add_argument("--running", type=int, default=2000, help="of their workspaces, how many run (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="counted full listing passes per side (default 3)")
    parser.add_argument("--passes", type=int, default=3, help="timed cull passes (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the hub's folder (log, database) afterwards")
    args = parser.parse_args()
    if args.users < 1:
        parser.error("--users must be at least 1")
    if not 1 <= args.running <= args.users * len(NAMES):
        parser.error(f"--running must be from 1 to {len(NAMES)} x --users")
    if args.rounds < 1 or args.passes < 1:
        parser.error("--rounds and --passes must be at least 1")

    root = Path(tempfile.mkdtemp(prefix="bench-hub-scale-"))
    hub = Hub(root, extra_config=f"c.Spawner.poll_interval = {POLL_INTERVAL_S}\n")
    stub = Stub()
    try:
        hub.start()
        hub.stop()
        started = time.perf_counter()
        expected = populate(hub, args.users * len(NAMES))
        running = make_running(hub, expected, args.running, stub)
        print(f"wrote {len(expected)} workspaces of {args.users} users, {len(running)} of them running (stub pid {stub.pid}, "
              f"port {stub.port}) in {time.perf_counter() - started:.1f}s", flush=True)

        started = time.perf_counter()
        hub.start(timeout=600)
        # the hub checks the running servers after it answers (init_spawners_timeout); wait for all
        wait_for(lambda: ready_count(hub) == args.running, 600, f"{args.running} ready servers", interval=5)
        wait_for(lambda: hub.ws("GET", "/workspaces", params={"limit": "1"}, timeout=120).status_code == 200, 60,
                 "the workspaces API", interval=0.5)
        print(f"hub up with {args.running} ready servers in {time.perf_counter() - started:.1f}s", flush=True)

        ours, theirs = OursAtScale("ours", hub, expected), HubUsers("hub", hub, expected)
        ours.running = running
        log_start = 0
        for rnd in range(args.rounds + 1):
            for side in (ours, theirs):
                side.latencies.clear()
            started = time.perf_counter()
            one_round([ours, theirs] if rnd % 2 == 0 else [theirs, ours])
            label = "warm-up" if rnd == 0 else f"round {rnd}/{args.rounds}"
            print(
                f"{label}: {time.perf_counter() - started:.1f}s; "
                + "; ".join(f"{s.name} {s.pages} pages, p50 {percentile(s.latencies, 50) * 1000:.1f} ms, "
                            f"max {max(s.latencies) * 1000:.1f} ms" for s in (ours, theirs)),
                flush=True,
            )
            if rnd > 0:
                for side in (ours, theirs):
                    side.counted += side.latencies
            else:
                time.sleep(1)  # let the warm-up's log lines reach hub.log
                log_start = len(hub.log())
        time.sleep(1)
        print(f"server side, counted rounds: {breakdown(hub.log()[log_start:])}", flush=True)

        passes = []
        for i in range(args.passes):
            report = cull_pass(hub)
            if report["inspected"] != args.running:
                raise SystemExit(f"cull pass {i + 1} inspected {report['inspected']} workspaces, expected {args.running}")
            passes.append(report["seconds"])
            print(f"cull pass {i + 1}/{args.passes}: {report['inspected']} inspected, {report['requests']} requests, "
                  f"{report['seconds']:.3f}s", flush=True)
    finally:
        hub.stop()  # cleanup_servers is off: the stub's servers are not stopped one by one
        hub.reap()
        stub.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}")

    print(f"{len(ours.counted)} page requests ours, {len(theirs.counted)} hub, over {args.rounds} rounds")
    print(f"RESULT hub_scale n={args.users} running={args.running} {list_figures(ours, theirs)} cull_pass_s={max(passes):.3f}")


if __name__ == "__main__":
    main()
