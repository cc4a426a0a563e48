"""Listing every workspace: our ``GET /workspaces`` against the hub's own ``GET /hub/api/users``.

One real hub (``workspaces up``, local backend, the test catalog and profiles)
holds N stopped workspaces: named servers with a spec, spread over N/2 users,
two each. They are written straight into the hub's database, no spawner is
involved:

1. the hub is started once on a fresh data dir, so that it creates and
   migrates its sqlite database (``<data>/jupyterhub.sqlite``), then stopped
   (SIGTERM);
2. with JupyterHub's own ORM (``jupyterhub.orm``), in three bulk INSERTs: N/2
   ``User`` rows (``bench00000`` ...), each granted the default ``user`` role
   as the hub grants it to new users, and N ``Spawner`` rows named
   ``analysis`` and ``training`` with no ``server`` (so: stopped named
   servers), ``started``/``last_activity`` timestamps and ``user_options`` =
   a spec validated by ``workspaces.spec.resolve_spec`` against the hub's
   catalog (image ``lab``, profile ``small`` or ``medium``), i.e. what
   ``POST /workspaces`` would have stored. The API's own record
   (``<data>/api-state.json``) gets each workspace's ``created`` time, as if
   the API had created them;
3. the hub is started again on the same data dir.

No hub setting is tuned: the page size cap stays JupyterHub's default
(``api_page_max_limit`` = 200), and the culler runs as deployed.

Then, through the proxy (the public URL), with the same admin service token
and one keep-alive ``requests.Session`` per side:

- ours: ``GET /services/workspaces/api/v1/workspaces?limit=200`` following
  ``next`` until it is null;
- hub: ``GET /hub/api/users?limit=100&offset=..&include_stopped_servers=1``
  (100 users = 200 workspaces, the same data per page) with the pagination
  ``Accept`` header, following ``_pagination.next`` until it is null. The
  hub also lists each user's default server (never started, no workspace:
  not counted), and so it does to the service.

Pages of the two sides are interleaved (one of ours, one of the hub's, ...),
so both see the same machine at the same time; who goes first alternates
each pass. One warm-up pass per side is not counted: the hub's first listing
of a user after a restart costs it 1-2 ms per user, which the side that goes
first would pay alone, and the service fills its token cache. Then
``--rounds`` full passes per side; every page request is timed, and p50 and
p99 (nearest rank) are over all counted page requests of a side. A progress
line splits the p50 of a page server side, from the request times the hub
and the service write to the hub's log: the service's time, the part of it
spent waiting for its hub calls, and the hub's time for its own page. Each pass must see all
N workspaces (ours: the right owner, name, spec and state ``stopped``), or the
benchmark fails. Last line::

    RESULT api_list n=<N> ours_p50_ms=<a> ours_p99_ms=<b> hub_p50_ms=<c> hub_p99_ms=<d> ratio_p99=<b/d>

Run: ``.venv/bin/python benchmarks/api_list.py --n 10000``
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.hub import Hub  # noqa: E402

OURS_LIMIT = 200  # workspaces per page (our API allows up to 500)
HUB_LIMIT = 100  # users per page: two workspaces each, the same 200 per page
NAMES = ("analysis", "training")
PAGINATION = "application/jupyterhub-pagination+json"


def specs(hub: Hub) -> list[dict]:
    """The stored specs of the workspaces, as the API would store them."""
    from workspaces.catalog import load_catalog
    from workspaces.config import load_config
    from workspaces.spec import resolve_spec

    config = load_config(hub.config_file)
    catalog = load_catalog(config, None)
    return [
        resolve_spec({"image": "lab", "profile": profile}, catalog, (), "local", config.settings.storage).user_options()
        for profile in ("small", "medium")
    ]


def populate(hub: Hub, n: int) -> dict[tuple[str, str], dict]:
    """Write N stopped workspaces into the (stopped) hub's database; return what was written."""
    from sqlalchemy import insert, select
    from jupyterhub import orm

    db_file = hub.data_dir / "jupyterhub.sqlite"
    if not db_file.exists():
        raise SystemExit(f"the hub made no database at {db_file}")
    session = orm.new_session_factory(f"sqlite:///{db_file}")()
    choices = specs(hub)
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # the hub stores naive UTC
    users = math.ceil(n / len(NAMES))
    names = [f"bench{i:05d}" for i in range(users)]
    session.execute(
        insert(orm.User),
        [{"name": name, "created": now - timedelta(days=30), "last_activity": now - timedelta(hours=i % 48)} for i, name in enumerate(names)],
    )
    ids = dict(session.execute(select(orm.User.name, orm.User.id).where(orm.User.name.in_(names))).all())
    role = session.execute(select(orm.Role).where(orm.Role.name == "user")).scalar_one()
    session.execute(insert(orm.User.roles.property.secondary), [{"user_id": ids[name], "role_id": role.id} for name in names])
    expected: dict[tuple[str, str], dict] = {}
    rows = []
    for k in range(n):
        owner, name = names[k // len(NAMES)], NAMES[k % len(NAMES)]
        spec = choices[(k // len(NAMES)) % len(choices)]
        expected[(owner, name)] = spec
        rows.append(
            {
                "user_id": ids[owner],
                "name": name,
                "state": {},
                "user_options": spec,
                "started": now - timedelta(days=1, minutes=k % 600),
                "last_activity": now - timedelta(hours=k % 72),
            }
        )
    session.execute(insert(orm.Spawner), rows)
    session.commit()
    session.close()
    created = (datetime.now(timezone.utc) - timedelta(days=2)).isoformat().replace("+00:00", "Z")
    state_file = hub.data_dir / "api-state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    state.update({f"{owner}/{name}": {"created": created} for owner, name in expected})
    state_file.write_text(json.dumps(state))
    return expected


class Lister:
    """One side: pages through everything, one page per ``step()``; records each page's latency."""

    def __init__(self, name: str, hub: Hub, expected: dict[tuple[str, str], dict]):
        self.name, self.hub, self.expected = name, hub, expected
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {hub.admin_token}"
        self.latencies: list[float] = []  # of the pass in progress
        self.counted: list[float] = []  # of every counted pass
        self.bytes = 0

    def begin(self) -> None:
        self.seen: dict[tuple[str, str], dict] = {}
        self.done = False
        self.pages = 0
        self.cursor: str | None = None

    def step(self) -> None:
        started = time.perf_counter()
        r = self.fetch()
        elapsed = time.perf_counter() - started
        if r.status_code != 200:
            raise SystemExit(f"{self.name}: page {self.pages} answered {r.status_code}: {r.text[:300]}")
        self.latencies.append(elapsed)
        self.bytes += len(r.content)
        self.pages += 1
        self.take(r.json())

    def check(self) -> None:
        if len(self.seen) != len(self.expected) or set(self.seen) != set(self.expected):
            missing = sorted(set(self.expected) - set(self.seen))[:5]
            extra = sorted(set(self.seen) - set(self.expected))[:5]
            raise SystemExit(
                f"{self.name}: saw {len(self.seen)} workspaces, expected {len(self.expected)}; missing e.g. {missing}, extra e.g. {extra}"
            )


class Ours(Lister):
    def fetch(self) -> requests.Response:
        params = {"limit": str(OURS_LIMIT)}
        if self.cursor:
            params["after"] = self.cursor
        return self.session.get(f"{self.hub.url}/services/workspaces/api/v1/workspaces", params=params, timeout=120)

    def take(self, body: dict) -> None:
        for ws in body["items"]:
            key = (ws["owner"], ws["name"])
            if key in self.seen:
                raise SystemExit(f"ours: {key} listed twice")
            if key in self.expected and (ws["spec"] != self.expected[key] or ws["state"] != "stopped"):
                raise SystemExit(f"ours: {key} is {ws['state']} with spec {ws['spec']}, expected stopped {self.expected[key]}")
            self.seen[key] = ws
        self.cursor = body["next"]
        self.done = self.cursor is None


class HubUsers(Lister):
    def begin(self) -> None:
        super().begin()
        self.offset = 0

    def fetch(self) -> requests.Response:
        # limit first: the service asks with include_stopped_servers first, so the hub log tells them apart
        params = {"limit": str(HUB_LIMIT), "offset": str(self.offset), "include_stopped_servers": "1"}
        return self.session.get(f"{self.hub.url}/hub/api/users", params=params, headers={"Accept": PAGINATION}, timeout=120)

    def take(self, body: dict) -> None:
        for user in body["items"]:
            for name, server in (user.get("servers") or {}).items():
                if not name:
                    continue  # the user's default server: the hub lists it, it is no workspace
                key = (user["name"], name)
                if key in self.seen:
                    raise SystemExit(f"hub: {key} listed twice")
                self.seen[key] = server
        following = body["_pagination"]["next"]
        self.done = following is None
        if following is not None:
            self.offset = following["offset"]


LOGGED = re.compile(r"\] 200 GET (\S+) \([^)]*\) ([0-9.]+)ms$")


def breakdown(log: str) -> str:
    """Where a page's time goes, from the request times the hub and the service log (same hub.log).

    Our page: the service's time, and within it the time the hub took to
    answer its calls (``/hub/api/users?include_stopped_servers=1&...``, logged just
    before the service's line); the rest is the service's own work and the hop to the
    hub. The hub's page: the hub's time. What the client saw beyond these is
    the proxy and the client.
    """
    inner: list[float] = []
    pending = 0.0
    service: list[float] = []
    hub_own: list[float] = []
    for line in log.splitlines():
        m = LOGGED.search(line)
        if not m:
            continue
        url, ms = m.group(1), float(m.group(2))
        if url.startswith("/hub/api/users?limit="):  # the benchmark's hub side (see HubUsers.fetch)
            hub_own.append(ms)
        elif url.startswith("/hub/api/users?include_stopped_servers=1&"):  # the service's calls
            pending += ms
        elif url.startswith("/services/workspaces/api/v1/workspaces?"):
            service.append(ms)
            inner.append(pending)
            pending = 0.0
    if not service or not hub_own:
        return "no request times in the hub log"
    own = [s - i for s, i in zip(service, inner)]
    med = statistics.median
    return (
        f"ours: service {med(service):.1f} ms p50 (in its hub calls {med(inner):.1f}, the rest {med(own):.1f}); "
        f"hub: {med(hub_own):.1f} ms p50 in the hub (request times the hub and the service log, {len(service)} and {len(hub_own)} pages)"
    )


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def list_figures(ours: Lister, theirs: Lister) -> str:
    """The RESULT fields both listing benchmarks print: each side's p50 and p99 page time, and the p99 ratio."""
    o50, o99 = percentile(ours.counted, 50) * 1000, percentile(ours.counted, 99) * 1000
    h50, h99 = percentile(theirs.counted, 50) * 1000, percentile(theirs.counted, 99) * 1000
    return f"ours_p50_ms={o50:.1f} ours_p99_ms={o99:.1f} hub_p50_ms={h50:.1f} hub_p99_ms={h99:.1f} ratio_p99={o99 / h99:.3f}"


def one_round(sides: list[Lister]) -> None:
    for side in sides:
        side.begin()
    while not all(side.done for side in sides):
        for side in sides:
            if not side.done:
                side.step()
    for side in sides:
        side.check()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="workspaces in the hub database (default 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="counted full passes per side (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the hub's folder (log, database) afterwards")
    args = parser.parse_args()
    if args.n < 2 or args.n % len(NAMES):
        parser.error("--n must be an even number of at least 2")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    root = Path(tempfile.mkdtemp(prefix="bench-api-list-"))
    hub = Hub(root)
    try:
        started = time.perf_counter()
        hub.start()
        hub.stop()
        print(f"hub database created in {time.perf_counter() - started:.1f}s", flush=True)

        started = time.perf_counter()
        expected = populate(hub, args.n)
        print(f"inserted {args.n} stopped workspaces of {args.n // len(NAMES)} users in {time.perf_counter() - started:.1f}s", flush=True)

        started = time.perf_counter()
        hub.start(timeout=600)
        print(f"hub up again in {time.perf_counter() - started:.1f}s", flush=True)
        r = hub.ws("GET", "/workspaces", params={"limit": "1"}, timeout=120)
        deadline = time.monotonic() + 60
        while r.status_code in (502, 503, 404) and time.monotonic() < deadline:  # the service may start after the hub
            time.sleep(0.5)
            r = hub.ws("GET", "/workspaces", params={"limit": "1"}, timeout=120)
        if r.status_code != 200:
            raise SystemExit(f"the workspaces API answered {r.status_code}: {r.text[:300]}")

        ours, theirs = Ours("ours", hub, expected), HubUsers("hub", hub, expected)
        log_start = 0
        for rnd in range(args.rounds + 1):
            for side in (ours, theirs):
                side.latencies.clear()
                side.bytes = 0
            started = time.perf_counter()
            # who goes first alternates each pass, so neither side always follows the other
            one_round([ours, theirs] if rnd % 2 == 0 else [theirs, ours])
            label = "warm-up" if rnd == 0 else f"round {rnd}/{args.rounds}"
            print(
                f"{label}: {time.perf_counter() - started:.1f}s; "
                + "; ".join(
                    f"{s.name} {s.pages} pages, {len(s.seen)} workspaces, {s.bytes / 1e6:.1f} MB, "
                    f"p50 {statistics.median(s.latencies) * 1000:.1f} ms, max {max(s.latencies) * 1000:.1f} ms"
                    for s in (ours, theirs)
                ),
                flush=True,
            )
            if rnd > 0:
                for side in (ours, theirs):
                    side.counted += side.latencies
            else:
                time.sleep(1)  # let the logs of the warm-up reach hub.log
                log_start = len(hub.log())
        time.sleep(1)
        print(f"server side, counted rounds: {breakdown(hub.log()[log_start:])}", flush=True)
    finally:
        hub.shutdown()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}")

    print(f"{len(ours.counted)} page requests ours, {len(theirs.counted)} hub, over {args.rounds} rounds; both saw all {args.n} workspaces")
    print(f"RESULT api_list n={args.n} {list_figures(ours, theirs)}")


if __name__ == "__main__":
    main()
