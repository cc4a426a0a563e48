"""Create-to-ready latency and API requests of a Kubernetes workspace: ours against plain KubeSpawner.

Both spawners run in this process, on one event loop, against the Kubernetes
API-server stand-in (``tests/support/k8s_apiserver.py``, in-process, its
status-only kubelet making each pod Running and Ready after a fixed 0.05 s):

- ours:  ``KubeWorkspaceSpawner`` with a workspaces.yaml naming the test
  catalog and profiles; spec ``{"image": "lab", "profile": "small"}``
- plain: ``KubeSpawner`` configured the way the zero-to-jupyterhub chart (4.x)
  configures it by default with dynamic storage: ``jupyter-{user_server}``
  pods, a ``claim-{user_server}`` PVC of 10Gi ensured at start and mounted as
  home, z2jh's labels, tolerations, node affinity, user scheduler and
  cloud-metadata init container, events on, the same image and the same CPU
  and memory guarantee and limit as the "small" profile.

Each side uses its own fixed namespace (KubeSpawner's reflectors are shared
per namespace, and the two select pods by different labels). A spawn is a new
workspace (a new user each time, so a new PVC and a new pod), timed from
calling ``start()`` to its return (once the pod is Running and Ready), then
stopped (not timed). Cycles alternate ours/plain after one untimed warm-up
spawn each (which starts that side's shared pod and event reflectors). The
API requests each ``start()`` makes are counted from the stand-in's request
log, and broken down by method and path once.

Then the pod cache at scale (``--pods``, default 5000): a stand-in in a child
process (so that the API server's own work of serialising a large list does
not land on the event loop being measured) holds that many Running pods per
side, each built from that side's own pod manifest plus what a real API server
adds (defaults, a Running status, managedFields). For each side this starts
the side's pod reflector and reports the memory its cache keeps (tracemalloc:
memory still allocated after the first list, after a garbage collection; and,
as a cross-check, the summed sys.getsizeof of the cached objects) and
the longest event-loop stall during a full relist (a ticker that sleeps 5 ms
records the longest gap between its ticks; this includes the garbage
collections that parsing sets off, as it would in a hub; KubeSpawner's
reflector relists at every watch restart, every 10 s by default).

The last line is::

    RESULT spawn_kube n=<N> ours_median_s=<x> plain_median_s=<y> ratio=<x/y> ours_requests=<a> plain_requests=<b>

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
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import yaml

REPO = Path(__file__).resolve().parents[1]
# the API-server stand-in lives with the tests; a benchmark is a dev tool and
# may use it (the product never imports from tests/)
sys.path.insert(0, str(REPO))

from tests.support.k8s_apiserver import kubeconfig  # noqa: E402 (needs the path above)

DATA = REPO / "tests" / "data"
SPEC = {"image": "lab", "profile": "small"}
OURS_NS = "workspaces"
PLAIN_NS = "jhub"  # z2jh: the release namespace
KUBELET_DELAY = 0.05
SERVER = "ws"
FILL_USER = "podfill000000"  # the user of the pod template; its digits become the pod's number
TICK_S = 0.005
RELISTS = 3


# -- setup ------------------------------------------------------------------------


def use_dummy_kubeconfig(workdir: Path) -> None:
    """kubernetes_asyncio reads $KUBECONFIG once, when first imported, and
    KubeSpawner insists on loading it even when k8s_api_host names the server:
    so, before either is imported, a valid kubeconfig for a dead address."""
    path = workdir / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig("http://127.0.0.1:1")))
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

    owner = SimpleNamespace(name=user, id=1, url=f"/user/{user}/", server=Server(), escaped_name=user, groups=[])
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
    k.scheduler_name = "jhub-user-scheduler"
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

    async def cycle(self, api, user: str, timed: bool) -> None:
        log = api.store.requests
        s = self.factory(api.url, user)
        mark = len(log)
        started = time.perf_counter()
        await s.start()
        elapsed = time.perf_counter() - started
        during_start = log[mark:]
        mark = len(log)
        await s.stop()
        during_stop = [r for r in log[mark:] if not is_background(r[0], r[2])]
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


async def spawn_phase(n: int, config_file: Path) -> tuple[list[Side], dict[str, str]]:
    """Warm-up and n timed cycles per side; returns the sides and, per side,
    a pod template (JSON text) for the cache part."""
    from tests.support.k8s_apiserver import ApiServer

    api = await ApiServer.start()
    api.kubelet.delay = KUBELET_DELAY
    sides = [
        Side("ours", lambda url, user: make_ours(config_file, url, user)),
        Side("plain", make_plain),
    ]
    try:
        for side in sides:
            await side.cycle(api, f"warmup-{side.name}", timed=False)
        for i in range(n):
            for side in sides if i % 2 == 0 else sides[::-1]:
                await side.cycle(api, f"bench{i:04d}", timed=True)
            ours, plain = sides
            print(
                f"cycle {i + 1}/{n}: ours {ours.times[-1]:.3f}s {ours.start_requests[-1]} req"
                f"  plain {plain.times[-1]:.3f}s {plain.start_requests[-1]} req",
                flush=True,
            )
        templates = {side.name: await pod_template(side.factory(api.url, FILL_USER)) for side in sides}
    finally:
        await stop_reflectors()
        await api.stop()
        # let the stand-in's watch handlers see it stopping and finish
        deadline = time.monotonic() + 5
        while api.store.watches_open and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await cancel_leftover_tasks()
    return sides, templates


# -- pods as a real cluster holds them ----------------------------------------------------


def fields_v1(value) -> dict:
    """The shape of managedFields' fieldsV1 for a value: f:<key> per map key,
    k:{"name":...} per item of a list of named items, {} for a leaf."""
    if isinstance(value, dict):
        return {".": {}, **{f"f:{k}": fields_v1(v) for k, v in value.items()}}
    if isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
        return {"k:" + json.dumps({"name": v["name"]}, separators=(",", ":")): fields_v1(v) for v in value}
    return {}


def as_running(pod: dict, number: int) -> dict:
    """A created pod as the API server returns it once it runs (in place): its
    defaults, node, a Running status and managedFields (hub for the spec,
    kubelet for the status). uid, resourceVersion and creationTimestamp come
    from the stand-in."""
    ts = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = f"{number:064x}"
    spec = pod["spec"]
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("serviceAccount", spec.get("serviceAccountName", "default"))
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec["nodeName"] = f"user-node-{number % 40}"
    spec["tolerations"] = list(spec.get("tolerations") or []) + [
        {"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        for t in ("not-ready", "unreachable")
    ]
    for c in spec.get("initContainers", []) + spec["containers"]:
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("resources", {})
    managed_spec = {"metadata": {k: v for k, v in pod["metadata"].items() if k in ("labels", "annotations")}, "spec": spec}

    def container_status(c: dict, init: bool) -> dict:
        state = (
            {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": ts, "finishedAt": ts,
                            "containerID": f"containerd://{digest}"}}
            if init
            else {"running": {"startedAt": ts}}
        )
        return {
            "name": c["name"],
            "image": c["image"],
            "imageID": f"{c['image'].split(':')[0]}@sha256:{digest}",
            "containerID": f"containerd://{digest}",
            "ready": not init,
            "started": not init,
            "restartCount": 0,
            "lastState": {},
            "state": state,
            "resources": c.get("resources", {}),
            "volumeMounts": [{"name": m["name"], "mountPath": m["mountPath"]} for m in c.get("volumeMounts", [])],
            "user": {"linux": {"uid": 1000, "gid": 100, "supplementalGroups": [100]}},
        }

    ip = f"10.244.{number // 250 % 250}.{number % 250 + 2}"
    node_ip = f"10.0.0.{number % 40 + 10}"
    pod["status"] = {
        "phase": "Running",
        "conditions": [
            {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": ts}
            for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
        ],
        "hostIP": node_ip,
        "hostIPs": [{"ip": node_ip}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": ts,
        "qosClass": "Burstable",
        "initContainerStatuses": [container_status(c, True) for c in spec.get("initContainers", [])],
        "containerStatuses": [container_status(c, False) for c in spec["containers"]],
    }
    pod["metadata"]["managedFields"] = [
        {"manager": "OpenAPI-Generator", "operation": "Update", "apiVersion": "v1", "time": ts,
         "fieldsType": "FieldsV1", "fieldsV1": fields_v1(managed_spec)},
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": ts, "fieldsType": "FieldsV1",
         "fieldsV1": fields_v1({"status": pod["status"]}), "subresource": "status"},
    ]
    return pod


async def pod_template(spawner) -> str:
    """The side's own pod manifest for user FILL_USER, as JSON text."""
    from kubernetes_asyncio.client import ApiClient

    manifest = await spawner.get_pod_manifest()
    async with ApiClient() as client:
        body = client.sanitize_for_serialization(manifest)
    return json.dumps(body)


def fill_bodies(template: str, count: int):
    for i in range(count):
        body = json.loads(template.replace(FILL_USER, f"podfill{i:06d}"))
        yield as_running(body, i)


# -- the stand-in with many pods (child process) -----------------------------------------


async def serve_pods(path: Path) -> None:
    """Child: a stand-in holding the pods in ``path``; prints its port and the
    average JSON size per pod per namespace, then serves until terminated."""
    from tests.support.k8s_apiserver import BY_PLURAL, ApiServer

    fill = json.loads(path.read_text())
    api = await ApiServer.start()
    sizes = {}
    for item in fill:
        total = 0
        for body in fill_bodies(item["template"], item["count"]):
            obj = await api.store.create(BY_PLURAL["pods"], item["namespace"], body)
            total += len(json.dumps(obj))
        sizes[item["namespace"]] = total / item["count"]
    print(json.dumps({"url": api.url, "sizes": sizes}), flush=True)
    await asyncio.Event().wait()


class PodStandIn:
    def __init__(self, workdir: Path, templates: dict[str, str], count: int):
        path = workdir / "pods.json"
        namespaces = {"ours": OURS_NS, "plain": PLAIN_NS}
        path.write_text(json.dumps([{"namespace": namespaces[k], "template": t, "count": count} for k, t in templates.items()]))
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-pods", str(path)], stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise SystemExit("the stand-in with many pods did not start")
        info = json.loads(line)
        self.url = info["url"]
        self.sizes = {k: info["sizes"][ns] for k, ns in namespaces.items()}

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


# -- the pod cache at scale ----------------------------------------------------------------


async def longest_stall(work) -> tuple[float, float]:
    """Run ``work`` (a coroutine) next to a ticker sleeping TICK_S; returns the
    longest gap between ticks and how long the work took, in seconds."""
    done = False
    longest = 0.0

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(TICK_S * 2)  # let it tick
    started = time.perf_counter()
    try:
        await work
    finally:
        elapsed = time.perf_counter() - started
        done = True
        await task
    return longest, elapsed


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
        stall, took = await longest_stall(reflector._list_and_update())
        stalls.append((stall, took))
    await stop_reflectors()
    return {"name": name, "pods": pods, "bytes": kept, "deep": deep, "stalls": stalls}


async def cache_phase(url: str, config_file: Path) -> list[dict]:
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
        worst = max(s for s, _ in r["stalls"])
        each = ", ".join(f"{s * 1000:.0f} ms (relist {t:.2f}s)" for s, t in r["stalls"])
        print(
            f"cache {r['name']}: {r['pods']} pods (of {wanted}; {sizes[r['name']] / 1000:.1f} KB JSON each),"
            f" {per_pod / 1000:.1f} KB/pod, {r['bytes'] / 1e6:.0f} MB (tracemalloc: kept after the first list;"
            f" deep getsizeof of the cache: {r['deep'] / max(r['pods'], 1) / 1000:.1f} KB/pod)"
        )
        print(f"relist stall {r['name']}: {worst * 1000:.0f} ms (longest gap of a {TICK_S * 1000:.0f} ms ticker; {each})")


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="timed spawns per side (default 50)")
    parser.add_argument("--pods", type=int, default=5000, help="pods per side for the cache part (default 5000; 0: skip)")
    parser.add_argument("--serve-pods", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_pods:
        asyncio.run(serve_pods(args.serve_pods))
        return
    if args.n < 1:
        parser.error("--n must be at least 1")
    if not 0 <= args.pods < 1_000_000:
        parser.error("--pods must be between 0 and 999999")

    with tempfile.TemporaryDirectory(prefix="bench-spawn-kube-") as tmp:
        workdir = Path(tmp)
        use_dummy_kubeconfig(workdir)  # before anything imports kubespawner
        config_file = write_workspaces_config(workdir)

        print(f"spawns: {args.n} per side, kubelet delay {KUBELET_DELAY}s, spec {SPEC}; plain: KubeSpawner, z2jh defaults", flush=True)
        sides, templates = asyncio.run(spawn_phase(args.n, config_file))
        for side in sides:
            side.report()

        if args.pods:
            print(f"pod cache: {args.pods} Running pods per side in a stand-in in a child process", flush=True)
            standin = PodStandIn(workdir, templates, args.pods)
            try:
                results = asyncio.run(cache_phase(standin.url, config_file))
            finally:
                standin.close()
            report_cache(results, standin.sizes, args.pods)

    ours, plain = sides
    x, y = statistics.median(ours.times), statistics.median(plain.times)
    print(
        f"RESULT spawn_kube n={args.n} ours_median_s={x:.3f} plain_median_s={y:.3f} ratio={x / y:.3f}"
        f" ours_requests={statistics.median_low(ours.start_requests)} plain_requests={statistics.median_low(plain.start_requests)}"
    )


if __name__ == "__main__":
    main()
