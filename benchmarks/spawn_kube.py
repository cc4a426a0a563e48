"""Create-to-ready latency and API requests of a Kubernetes workspace: ours against plain KubeSpawner.

Both spawners run in this process, on one event loop, against the tests' real
control plane (kube-apiserver, kube-scheduler, kube-controller-manager and
etcd built from the official Go modules; ``make install`` builds it), with
its simulated nodes and volume provisioner, all in a child process
(``python -m tests.support.cluster_fixture``, what ``make cluster`` runs), so
that none of the cluster's own work lands on the event loop being measured.
Both speak as the hub's ServiceAccount with the rules of
config/kubernetes/rbac.yaml, through a TokenRequest token.

- ours:  ``KubeWorkspaceSpawner`` with a workspaces.yaml naming the test
  catalog and profiles; spec ``{"image": "lab", "profile": "small"}``
- plain: ``KubeSpawner`` configured the way the zero-to-jupyterhub chart (4.x)
  configures it by default with dynamic storage: ``jupyter-{user_server}``
  pods, a ``claim-{user_server}`` PVC of 10Gi ensured at start and mounted as
  home, z2jh's labels, tolerations, node affinity and cloud-metadata init
  container, events on, the same image and the same CPU and memory guarantee
  and limit as the "small" profile. z2jh's user scheduler is a Deployment of
  its chart, absent here, so the cluster's default scheduler places its pods.

Each side uses its own fixed namespace (KubeSpawner's reflectors are shared
per namespace, and the two select pods by different labels). A spawn is a new
workspace (a new user each time, so a new PVC, provisioned and bound, and a
new pod, scheduled and run), timed from calling ``start()`` to its return
(once the pod is Running and Ready), then stopped (not timed). Cycles
alternate ours/plain after one untimed warm-up spawn each (which starts that
side's shared pod and event reflectors). The API requests each ``start()``
makes are counted from the API server's audit log, and broken down by method
and path once.

Then the pod cache at scale (``--pods``, default 5000): that many pods per
side, each made from that side's own pod manifest, created on the server
(which adds its defaults and managedFields) and made Running by the simulated
kubelet through ``pods/status``. For each side this starts the side's pod
reflector and reports the memory its cache keeps (tracemalloc: memory still
allocated after the first list, after a garbage collection; and, as a
cross-check, the summed sys.getsizeof of the cached objects) and the longest
event-loop stall during a full relist (a ticker that sleeps 5 ms records the
longest gap between its ticks; this includes the garbage collections that
parsing sets off, as it would in a hub; KubeSpawner's reflector relists at
every watch restart, every 10 s by default). The same ticker, run as long as
a relist took with nothing else to do, gives the machine's own floor
(``idle_stall_ms``): on a loaded machine the loop waits that long for a core
whatever it runs.

The last line is::

    RESULT spawn_kube n=<N> ours_median_s=<x> plain_median_s=<y> ratio=<x/y> ours_requests=<a> plain_requests=<b> cache_kb_per_pod=<c> stall_ms=<s> plain_stall_ms=<p> stall_cpu_ms=<sc> plain_stall_cpu_ms=<pc> idle_stall_ms=<i> ours_cache_kb_per_pod=<c> plain_cache_kb_per_pod=<d> ours_relist_stall_ms=<e> plain_relist_stall_ms=<f>

``cache_kb_per_pod`` is ours; ``stall_ms`` and ``plain_stall_ms`` are each
side's longest gap over its relists and its first list (the issue's names;
the ``ours_``/``plain_`` keys are the earlier ones: relists only);
``stall_cpu_ms`` and ``plain_stall_cpu_ms`` the most CPU time the loop's
thread spent in any one gap: the stall the side's own work makes, which a
loaded machine stretches into the gap by making the thread wait for a core.
The cache figures are absent with ``--pods 0``.

Run: ``.venv/bin/python benchmarks/spawn_kube.py --n 50`` (``--pods 0`` skips the cache part).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import statistics
import ssl
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import yaml

REPO = Path(__file__).resolve().parents[1]
# the test cluster lives with the tests; a benchmark is a dev tool and may use
# it (the product never imports from tests/)
sys.path.insert(0, str(REPO))

from tests.support.cluster import Kube  # noqa: E402 (needs the path above)
from tests.support.cluster_fixture import HUB_ACCOUNT, HUB_NAMESPACE, AuditLog  # noqa: E402

DATA = REPO / "tests" / "data"
SPEC = {"image": "lab", "profile": "small"}
OURS_NS = "workspaces"
PLAIN_NS = "jhub"  # z2jh: the release namespace
KUBELET_DELAY = 0.05
SERVER = "ws"
FILL_USER = "podfill000000"  # the user of the pod template; its digits become the pod's number
TICK_S = 0.005
RELISTS = 3
# the RESULT line's keys named by the issue, first (and the loop's own CPU share of a stall)
ISSUE_KEYS = ("cache_kb_per_pod", "stall_ms", "plain_stall_ms", "stall_cpu_ms", "plain_stall_cpu_ms", "idle_stall_ms")


# -- setup ------------------------------------------------------------------------


class ClusterProcess:
    """The test cluster (control plane, simulated nodes and provisioner) in a child process."""

    READY = re.compile(r"ready at (\S+),")

    def __init__(self, workdir: Path):
        self.dir = workdir / "cluster"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.cluster_fixture", "--dir", str(self.dir)],
            cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=True,
        )
        for line in self.proc.stdout:
            if m := self.READY.match(line):
                self.url = m[1]
                break
        else:
            raise SystemExit("the test cluster did not start (is build/controlplane built? run `make install`)")
        self.hub_kubeconfig = self.dir / "hub.kubeconfig"
        self.admin = Kube(self.url, str(self.dir / "ca.crt"), cert=(str(self.dir / "admin.crt"), str(self.dir / "admin.key")))
        self.hub_user = f"system:serviceaccount:{HUB_NAMESPACE}:{HUB_ACCOUNT}"
        self.audit = AuditLog(self.dir / "audit.log")

    def requests(self, since: int) -> list[tuple[str, str, str]]:
        """(method, path, query) of the hub's requests after ``since``, from the audit log."""
        return self.audit.requests(self.admin, self.hub_user, since)

    def audit_mark(self) -> int:
        return self.audit.mark()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: the fixture stops the control plane and exits
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def use_kubeconfig(path: Path) -> None:
    """kubernetes_asyncio reads $KUBECONFIG once, when first imported, and
    KubeSpawner loads it: so, before either is imported, the hub's identity."""
    os.environ["KUBECONFIG"] = str(path)


def write_workspaces_config(workdir: Path) -> Path:
    path = workdir / "workspaces.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "catalog": str(DATA / "catalog.yaml"),
                "profiles": str(DATA / "profiles.yaml"),
                "kubernetes": {"namespace": OURS_NS},
            }
        )
    )
    return path


def small_profile() -> dict:
    profiles = yaml.safe_load((DATA / "profiles.yaml").read_text())["profiles"]
    return next(p for p in profiles if p["id"] == SPEC["profile"])


def lab_image() -> str:
    images = yaml.safe_load((DATA / "catalog.yaml").read_text())["images"]
    return next(i for i in images if i["id"] == SPEC["image"])["image"]


def kubespawner_bytes(quantity: str) -> str:
    # KubeSpawner's byte suffixes are binary already: "1G" is 1024**3, our "1Gi"
    return quantity[:-1] if quantity.endswith("i") else quantity


def hub_objects(user: str) -> tuple:
    from jupyterhub.objects import Hub, Server

    owner = SimpleNamespace(name=user, id=1, url=f"/user/{user}/", server=Server(), escaped_name=user, groups=[],
                            # no other server of the user: the budget check (spawner.base) counts none
                            orm_user=SimpleNamespace(orm_spawners={}), spawners={})
    # the server's database row, as the hub passes it (the server name comes from there)
    row = SimpleNamespace(name=SERVER, user_options={}, state=None, server=None)
    return Hub(), owner, row


def make_ours(config_file: Path, api_url: str, user: str):
    from traitlets.config import Config

    from spawner.kubernetes import KubeWorkspaceSpawner

    config = Config()
    config.KubeWorkspaceSpawner.workspaces_config = str(config_file)
    config.KubeWorkspaceSpawner.k8s_api_host = api_url
    config.KubeWorkspaceSpawner.start_timeout = 300
    hub, owner, row = hub_objects(user)
    s = KubeWorkspaceSpawner(
        hub=hub, user=owner, orm_spawner=row, config=config, api_token="0" * 32, oauth_client_id=f"jupyterhub-user-{user}"
    )
    s.load_state({})
    s.apply_spec(dict(SPEC))
    return s


def z2jh_config(api_url: str):
    """What the zero-to-jupyterhub chart's jupyterhub_config.py sets on
    KubeSpawner by default (singleuser.storage.type dynamic), with our image
    and the "small" profile's resources."""
    from traitlets.config import Config

    profile = small_profile()
    config = Config()
    k = config.KubeSpawner
    k.namespace = PLAIN_NS
    k.k8s_api_host = api_url
    k.start_timeout = 300
    k.events_enabled = True
    k.common_labels = {
        "app": "jupyterhub",
        "app.kubernetes.io/name": "jupyterhub",
        "heritage": "jupyterhub",
        "release": "jhub",
        "app.kubernetes.io/instance": "jhub",
        "chart": "jupyterhub-4.2.0",
        "helm.sh/chart": "jupyterhub-4.2.0",
        "app.kubernetes.io/managed-by": "kubespawner",
    }
    k.extra_labels = {"hub.jupyter.org/network-access-hub": "true"}
    k.image = lab_image()
    k.image_pull_policy = "IfNotPresent"
    k.cmd = ["jupyterhub-singleuser"]
    k.uid = 1000
    k.fs_gid = 100
    k.allow_privilege_escalation = False
    k.cpu_guarantee = float(profile["cpu"]["guarantee"])
    k.cpu_limit = float(profile["cpu"]["limit"])
    k.mem_guarantee = kubespawner_bytes(profile["memory"]["guarantee"])
    k.mem_limit = kubespawner_bytes(profile["memory"]["limit"])
    k.storage_pvc_ensure = True
    k.pvc_name_template = "claim-{user_server}"
    k.storage_capacity = "10Gi"
    k.storage_access_modes = ["ReadWriteOnce"]
    k.volumes = [{"name": "volume-{user_server}", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}]
    k.volume_mounts = [{"mountPath": "/home/jovyan", "name": "volume-{user_server}"}]
    # z2jh's scheduler_name "jhub-user-scheduler" names a Deployment of its chart, absent here
    k.tolerations = [
        {"key": key, "operator": "Equal", "value": "user", "effect": "NoSchedule"}
        for key in ("hub.jupyter.org/dedicated", "hub.jupyter.org_dedicated")
    ]
    k.node_affinity_preferred = [
        {
            "weight": 100,
            "preference": {"matchExpressions": [{"key": "hub.jupyter.org/node-purpose", "operator": "In", "values": ["user"]}]},
        }
    ]
    k.init_containers = [
        {
            "name": "block-cloud-metadata",
            "image": "quay.io/jupyterhub/k8s-network-tools:4.2.0",
            "command": ["iptables", "--append", "OUTPUT", "--protocol", "tcp", "--destination", "169.254.169.254",
                        "--destination-port", "80", "--jump", "DROP"],
            "securityContext": {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]}},
        }
    ]
    return config


def make_plain(api_url: str, user: str):
    from kubespawner import KubeSpawner

    hub, owner, row = hub_objects(user)
    s = KubeSpawner(
        hub=hub, user=owner, orm_spawner=row, config=z2jh_config(api_url), api_token="0" * 32,
        oauth_client_id=f"jupyterhub-user-{user}",
    )
    s.load_state({})
    return s


async def stop_reflectors() -> None:
    from kubespawner import KubeSpawner

    from spawner.kubernetes import KubeWorkspaceSpawner

    # the subclass shares KubeSpawner's class-level dict unless it defines its own
    for cls in {KubeSpawner, KubeWorkspaceSpawner}:
        await cls._stop_all_reflectors()


async def cancel_leftover_tasks() -> None:
    """KubeSpawner's shared API clients each keep a task that closes the client
    when cancelled; cancel those (and anything else left) and wait for them."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- requests ------------------------------------------------------------------------

PLURALS = "pods|persistentvolumeclaims|services|secrets|events|configmaps|serviceaccounts|rolebindings|profiles|poddefaults"


def path_pattern(path: str) -> str:
    path = re.sub(r"/namespaces/[^/]+", "/namespaces/{ns}", path)
    return re.sub(rf"/({PLURALS})/[^/]+", r"/\1/{name}", path)


def is_background(method: str, query: str) -> bool:
    """A request of a reflector's own loop: a watch, or the relist before it.

    Each reflector (pods and events; per namespace in KubeSpawner, cluster-wide
    in ours) relists and rewatches every 10 s (KubeSpawner's watch timeout)
    in the background, whichever
    spawner is starting, so such requests can fall into a start() window by
    chance. They are left out of the per-spawn counts and reported apart.
    KubeSpawner lists with resourceVersionMatch=NotOlderThan only there; the
    first list of a new reflector has it too, which the warm-up spawn absorbs.
    """
    return method == "GET" and ("watch=" in query or "resourceVersionMatch=NotOlderThan" in query)


class Side:
    def __init__(self, name: str, factory):
        self.name = name
        self.factory = factory  # (api_url, user) -> spawner
        self.times: list[float] = []
        self.start_requests: list[int] = []
        self.stop_requests: list[int] = []
        self.calls: Counter = Counter()
        self.background = 0

    async def cycle(self, cluster: ClusterProcess, user: str, timed: bool) -> None:
        s = self.factory(cluster.url, user)
        mark = cluster.audit_mark()
        started = time.perf_counter()
        await s.start()
        elapsed = time.perf_counter() - started
        during_start = cluster.requests(mark)
        mark = cluster.audit_mark()
        await s.stop()
        during_stop = [r for r in cluster.requests(mark) if not is_background(r[0], r[2])]
        if not timed:
            return
        own = [(m, p) for m, p, q in during_start if not is_background(m, q)]
        self.times.append(elapsed)
        self.start_requests.append(len(own))
        self.stop_requests.append(len(during_stop))
        self.background += len(during_start) - len(own)
        self.calls.update((m, path_pattern(p)) for m, p in own)

    def report(self) -> None:
        t = self.times
        print(
            f"{self.name:5}: start median {statistics.median(t):.3f}s  min {min(t):.3f}s  max {max(t):.3f}s;"
            f" requests per start median {statistics.median_low(self.start_requests)}"
            f" (min {min(self.start_requests)}, max {max(self.start_requests)}),"
            f" per stop median {statistics.median_low(self.stop_requests)};"
            f" background reflector requests in start windows: {self.background}"
        )
        for (method, path), count in sorted(self.calls.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"         {count / len(t):5.2f} per start  {method:6} {path}")


# -- the spawn cycles -------------------------------------------------------------------


async def spawn_phase(n: int, config_file: Path, cluster: ClusterProcess) -> tuple[list[Side], dict[str, str]]:
    """Warm-up and n timed cycles per side; returns the sides and, per side,
    a pod template (JSON text) for the cache part."""
    sides = [
        Side("ours", lambda url, user: make_ours(config_file, url, user)),
        Side("plain", make_plain),
    ]
    try:
        for side in sides:
            await side.cycle(cluster, f"warmup-{side.name}", timed=False)
        for i in range(n):
            for side in sides if i % 2 == 0 else sides[::-1]:
                await side.cycle(cluster, f"bench{i:04d}", timed=True)
            ours, plain = sides
            print(
                f"cycle {i + 1}/{n}: ours {ours.times[-1]:.3f}s {ours.start_requests[-1]} req"
                f"  plain {plain.times[-1]:.3f}s {plain.start_requests[-1]} req",
                flush=True,
            )
        templates = {side.name: await pod_template(side.factory(cluster.url, FILL_USER)) for side in sides}
    finally:
        await stop_reflectors()
        await cancel_leftover_tasks()
    return sides, templates


# -- pods as a real cluster holds them ----------------------------------------------------

FILL_NODES = ("cpu-1", "cpu-2")  # the simulated kubelet makes what is bound to them Running
FILL_CONCURRENCY = 16


async def pod_template(spawner) -> str:
    """The side's own pod manifest for user FILL_USER, as JSON text."""
    from kubernetes_asyncio.client import ApiClient

    manifest = await spawner.get_pod_manifest()
    async with ApiClient() as client:
        body = client.sanitize_for_serialization(manifest)
    return json.dumps(body)


def fill_body(template: str, number: int) -> dict:
    """Pod ``number`` of a side: its template for another user, bound to a simulated node.

    Bound at creation (as a scheduler's binding would leave it), since that
    many pods exceed the nodes' pod capacity; what claims it mounts are never
    looked at by the simulated kubelet.
    """
    body = json.loads(template.replace(FILL_USER, f"podfill{number:06d}"))
    body["spec"]["nodeName"] = FILL_NODES[number % len(FILL_NODES)]
    return body


async def fill_pods(cluster: ClusterProcess, templates: dict[str, str], count: int) -> dict[str, float]:
    """Create ``count`` pods per side and wait for all to run; average JSON size per pod, per side."""
    import aiohttp

    from tests.support.cluster import path

    namespaces = {"ours": OURS_NS, "plain": PLAIN_NS}
    auth = cluster.admin
    context = ssl.create_default_context(cafile=auth.ca_file)
    context.load_cert_chain(*auth.session.cert)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=FILL_CONCURRENCY)) as http:
        gate = asyncio.Semaphore(FILL_CONCURRENCY)

        async def create(namespace: str, body: dict) -> None:
            async with gate:
                async with http.post(cluster.url + path("pods", namespace), json=body) as r:
                    if r.status != 201:
                        raise SystemExit(f"pod create: {r.status} {await r.text()}")

        for side, namespace in namespaces.items():
            await asyncio.gather(*(create(namespace, fill_body(templates[side], i)) for i in range(count)))
        sizes = {}
        for side, namespace in namespaces.items():
            deadline = time.monotonic() + 600
            while True:
                async with http.get(cluster.url + path("pods", namespace), params={"fieldSelector": "status.phase=Running"}) as r:
                    running = (await r.json())["items"]
                if len(running) >= count or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
            sizes[side] = sum(len(json.dumps(p)) for p in running) / max(len(running), 1)
    return sizes


# -- the pod cache at scale ----------------------------------------------------------------


class Stall(NamedTuple):
    gap: float  # the longest gap between ticks, s
    cpu: float  # the CPU time the loop's thread spent in that gap (the rest it waited for a core)
    elapsed: float  # how long the work took
    most_cpu: float  # the most CPU time the loop's thread spent in any one gap: the loop's own stall


async def longest_stall(work) -> Stall:
    """Run ``work`` (a coroutine) next to a ticker sleeping TICK_S, and time its gaps."""
    done = False
    longest = longest_cpu = most_cpu = 0.0

    async def ticker() -> None:
        nonlocal longest, longest_cpu, most_cpu
        last, last_cpu = time.perf_counter(), time.thread_time()
        while not done:
            await asyncio.sleep(TICK_S)
            now, now_cpu = time.perf_counter(), time.thread_time()
            if now - last > longest:
                longest, longest_cpu = now - last, now_cpu - last_cpu
            most_cpu = max(most_cpu, now_cpu - last_cpu)
            last, last_cpu = now, now_cpu

    task = asyncio.create_task(ticker())
    await asyncio.sleep(TICK_S * 2)  # let it tick
    started = time.perf_counter()
    try:
        await work
    finally:
        elapsed = time.perf_counter() - started
        done = True
        await task
    return Stall(longest, longest_cpu, elapsed, most_cpu)


def deep_size(root) -> int:
    """sys.getsizeof summed over the dicts, lists and leaves reachable from
    ``root``, each object once (a cross-check of the tracemalloc figure)."""
    seen: set[int] = set()
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
    return total


async def measure_cache(name: str, spawner) -> dict:
    """Start the side's pod reflector on the filled stand-in: memory kept by
    its cache (tracemalloc, after gc) and the longest stall over full relists."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        reflector = await spawner._start_watching_pods()
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    pods = len(reflector.pods)
    deep = deep_size(reflector.pods)
    stalls = []
    for _ in range(RELISTS):
        stalls.append(await longest_stall(reflector._list_and_update()))
    # a first list, as at the hub's start: nothing cached to keep (the first one ran under tracemalloc)
    reflector.resources = {}
    first = await longest_stall(reflector._list_and_update())
    await stop_reflectors()
    # the machine's floor: the ticker alone, no reflector running, as long as the longest relist
    idle = await longest_stall(asyncio.sleep(max(st.elapsed for st in stalls)))
    return {"name": name, "pods": pods, "bytes": kept, "deep": deep, "stalls": stalls, "first": first, "idle": idle}


async def cache_phase(url: str, config_file: Path) -> list[dict]:
    """Each side's pod reflector over the filled cluster."""
    results = []
    try:
        for name, make in (("ours", lambda: make_ours(config_file, url, "cache")), ("plain", lambda: make_plain(url, "cache"))):
            results.append(await measure_cache(name, make()))
    finally:
        await stop_reflectors()
        await cancel_leftover_tasks()
    return results


def report_cache(results: list[dict], sizes: dict[str, float], wanted: int) -> None:
    for r in results:
        per_pod = r["bytes"] / max(r["pods"], 1)
        worst = max(st.gap for st in r["stalls"])
        each = ", ".join(f"{s * 1000:.0f} ms ({cpu * 1000:.0f} ms of it on the CPU; relist {t:.2f}s; most CPU in one gap {c * 1000:.0f} ms)"
                         for s, cpu, t, c in r["stalls"])
        print(
            f"cache {r['name']}: {r['pods']} pods (of {wanted}; {sizes[r['name']] / 1000:.1f} KB JSON each),"
            f" {per_pod / 1000:.1f} KB/pod, {r['bytes'] / 1e6:.0f} MB (tracemalloc: kept after the first list;"
            f" deep getsizeof of the cache: {r['deep'] / max(r['pods'], 1) / 1000:.1f} KB/pod)"
        )
        print(f"relist stall {r['name']}: {worst * 1000:.0f} ms (longest gap of a {TICK_S * 1000:.0f} ms ticker; {each})")
        s, cpu, t, c = r["first"]
        print(f"first-list stall {r['name']}: {s * 1000:.0f} ms ({cpu * 1000:.0f} ms of it on the CPU; list {t:.2f}s;"
              f" most CPU in one gap {c * 1000:.0f} ms)")
        s, cpu, t, c = r["idle"]
        print(f"idle ticker {r['name']}: {s * 1000:.0f} ms ({cpu * 1000:.0f} ms of it on the CPU; over {t:.2f}s, no reflector running)")


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="timed spawns per side (default 50)")
    parser.add_argument("--pods", type=int, default=5000, help="pods per side for the cache part (default 5000; 0: skip)")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")
    if not 0 <= args.pods < 1_000_000:
        parser.error("--pods must be between 0 and 999999")

    with tempfile.TemporaryDirectory(prefix="bench-spawn-kube-") as tmp:
        workdir = Path(tmp)
        print("starting the control plane with simulated nodes (child process)", flush=True)
        cluster = ClusterProcess(workdir)
        try:
            use_kubeconfig(cluster.hub_kubeconfig)  # before anything imports kubespawner
            cluster.admin.namespace(PLAIN_NS)
            config_file = write_workspaces_config(workdir)
            print(f"spawns: {args.n} per side, kubelet delay {KUBELET_DELAY}s, spec {SPEC}; plain: KubeSpawner, z2jh defaults",
                  flush=True)
            sides, templates = asyncio.run(spawn_phase(args.n, config_file, cluster))
            for side in sides:
                side.report()

            cache: dict[str, str] = {}
            issue: dict[str, str] = {}  # the issue's names, first
            if args.pods:
                print(f"pod cache: {args.pods} Running pods per side on the API server", flush=True)
                sizes = asyncio.run(fill_pods(cluster, templates, args.pods))
                results = asyncio.run(cache_phase(cluster.url, config_file))
                report_cache(results, sizes, args.pods)
                for r in results:
                    cache[f"{r['name']}_cache_kb_per_pod"] = f"{r['bytes'] / max(r['pods'], 1) / 1000:.1f}"
                    cache[f"{r['name']}_relist_stall_ms"] = f"{max(st.gap for st in r['stalls']) * 1000:.0f}"
                    lists = [*r["stalls"], r["first"]]
                    side = "" if r["name"] == "ours" else f"{r['name']}_"
                    issue[f"{side}stall_ms"] = f"{max(st.gap for st in lists) * 1000:.0f}"
                    issue[f"{side}stall_cpu_ms"] = f"{max(st.most_cpu for st in lists) * 1000:.0f}"
                issue["cache_kb_per_pod"] = cache["ours_cache_kb_per_pod"]
                issue["idle_stall_ms"] = f"{max(r['idle'].gap for r in results) * 1000:.0f}"
        finally:
            cluster.close()

    ours, plain = sides
    x, y = statistics.median(ours.times), statistics.median(plain.times)
    print(
        f"RESULT spawn_kube n={args.n} ours_median_s={x:.3f} plain_median_s={y:.3f} ratio={x / y:.3f}"
        f" ours_requests={statistics.median_low(ours.start_requests)} plain_requests={statistics.median_low(plain.start_requests)}"
        + "".join(f" {k}={issue[k]}" for k in ISSUE_KEYS if k in issue)
        + "".join(f" {k}={v}" for k, v in sorted(cache.items()))
    )


if __name__ == "__main__":
    main()
