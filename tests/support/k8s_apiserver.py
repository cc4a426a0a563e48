"""A Kubernetes API server stand-in on loopback, for testing the Kubernetes backend.

No cluster exists where the tests run. This keeps objects per namespace with
uid, resourceVersion and creationTimestamp; lists with label and field
selectors; serves watches from a resourceVersion (410 Gone when it is too
old) with timeoutSeconds; answers create 201/409, get 404, merge and JSON
patches (also on /status) and delete like the real one; serves discovery
for the core group, RBAC and Kubeflow's Profiles and PodDefaults; logs every
request; injects faults (status codes, delays); and has a kubelet that makes
pods Running or fails them the ways real pods fail.

Use in-process: ``api = await ApiServer.start()``; ``api.url``; ``await api.stop()``.
In a thread, for synchronous tests: ``with ApiServerThread() as api: ...``.

The kubelet has two modes:

``status`` (the default)
    After ``api.kubelet.delay`` a pod is Running and Ready at 127.0.0.1; nothing runs.

``process``: ``ApiServer.start(kubelet="process", data_dir=...)``, the same
keywords on ``ApiServerThread``, or ``api.kubelet.mode = "process"`` before the pod is created
    The pod's first container runs as a real local process (``command`` + ``args``,
    its ``env`` values; ``valueFrom`` entries are ignored) on its own loopback IP
    127.0.0.N (N >= 2, unique among live pods), which becomes ``status.podIP``.
    Nothing listens beyond loopback: every ``--ip=``/``--X.ip=`` argument and the host of
    ``JUPYTERHUB_SERVICE_URL`` become the pod IP; as root, ``--allow-root`` is added to
    jupyter commands. The environment is minimal: PATH (the running Python's bin
    first, so ``jupyterhub-singleuser`` resolves), HOME (the working directory) and
    HOSTNAME, then the pod's env on top.
    Files live under ``api.data_dir`` (``data_dir``, or a temp dir removed by ``stop()``):
    ``claims/<ns>/<claim>/`` is the working directory of every pod that mounts that
    PersistentVolumeClaim (the first mounted claim), so files outlive the pod; deleting
    the claim removes it. A pod without a claim gets ``pods/<ns>/<pod>-<uid>/``.
    ``logs/<ns>/<pod>-<uid>.log`` holds the process's stdout and stderr
    (``api.kubelet.logs(namespace, name)`` reads the newest).
    The pod is Running with ``ready: false`` once the process is launched, and Ready
    once the container port (``ports[0].containerPort``, default 8888) accepts TCP
    connections on the pod IP. When the process exits by itself the pod becomes
    Failed (exit code != 0) or Succeeded with ``state.terminated.exitCode`` and a
    Warning event. Deleting the pod sends SIGTERM to the process group and SIGKILL
    after the grace period (``gracePeriodSeconds`` of the delete, else 5 s, at least
    1 s); ``stop()`` kills every process left and waits for it.
    ``api.kubelet.processes`` maps pod uid to its ``PodProcess``.

In both modes ``api.kubelet.scenario(pod)`` picks a pod's fate: "run" (default),
"unschedulable", "image-pull" or "crash"; the failures start no process.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


RESOURCES = [
    Resource("", "v1", "pods", "Pod"),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    Resource("", "v1", "services", "Service"),
    Resource("", "v1", "secrets", "Secret"),
    Resource("", "v1", "configmaps", "ConfigMap"),
    Resource("", "v1", "serviceaccounts", "ServiceAccount"),
    Resource("", "v1", "events", "Event"),
    Resource("", "v1", "namespaces", "Namespace", namespaced=False),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    Resource("kubeflow.org", "v1", "profiles", "Profile", namespaced=False),
    Resource("kubeflow.org", "v1alpha1", "poddefaults", "PodDefault"),
]
HISTORY = 1000  # watch events kept by default; older resourceVersions get 410 Gone
BY_PLURAL = {r.plural: r for r in RESOURCES}


def kubeconfig(server: str, namespace: str = "default") -> dict:
    """A kubeconfig for ``server`` with a token any stand-in accepts."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "standin", "cluster": {"server": server}}],
        "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "test", "namespace": namespace}}],
        "current-context": "standin",
        "users": [{"name": "test", "user": {"token": "standin-token"}}],
    }


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


def get_path(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def label_matches(labels: dict[str, str], selector: str) -> bool:
    """Equality (=, ==, !=), set (in, notin) and existence (key, !key) requirements."""
    for req in re.split(r",(?![^()]*\))", selector):
        req = req.strip()
        if not req:
            continue
        if m := re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", req):
            values = {v.strip() for v in m[3].split(",")}
            inside = labels.get(m[1]) in values
            if inside != (m[2] == "in"):
                return False
        elif "!=" in req:
            key, value = req.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in req:
            key, value = re.split(r"==?", req, maxsplit=1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif req.startswith("!"):
            if req[1:] in labels:
                return False
        elif req not in labels:
            return False
    return True


def field_matches(obj: dict, selector: str) -> bool:
    for req in selector.split(","):
        req = req.strip()
        if not req:
            continue
        negate = "!=" in req
        key, value = re.split(r"!=|==?", req, maxsplit=1)
        actual = get_path(obj, key.strip())
        if (str(actual) == value.strip()) == negate:
            return False
    return True


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 (strategic merge patches are treated the same)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(doc: Any, ops: list[dict]) -> Any:
    """RFC 6902 add, replace, remove and test."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        if op["op"] == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        elif op["op"] == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op["op"] == "add":
                parent.insert(index, op["value"])
            else:
                parent[index] = op["value"]
        else:
            parent[last] = op["value"]
    return doc


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int = 500
    delay: float = 0.0
    times: int = 1  # how many requests it hits; -1: all


@dataclass
class Store:
    objects: dict[tuple[str, str, str], dict] = field(default_factory=dict)  # (plural, ns, name)
    history: deque = field(default_factory=lambda: deque(maxlen=HISTORY))  # (rv, type, plural, obj)
    rv: int = 1
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, query)
    faults: list[Fault] = field(default_factory=list)
    watches_open: int = 0
    _changed: asyncio.Condition | None = None

    @property
    def changed(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def emit(self, kind: str, plural: str, obj: dict) -> None:
        self.history.append((int(obj["metadata"]["resourceVersion"]), kind, plural, copy.deepcopy(obj)))
        async with self.changed:
            self.changed.notify_all()

    def next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def items(self, plural: str, namespace: str | None) -> list[dict]:
        return [o for (p, ns, _), o in self.objects.items() if p == plural and (namespace is None or ns == namespace)]

    async def create(self, res: Resource, namespace: str, body: dict) -> dict:
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        key = (res.plural, namespace, meta.get("name", ""))
        if key in self.objects:
            raise ApiError(409, "AlreadyExists", f'{res.plural} "{key[2]}" already exists', {"name": key[2], "kind": res.plural})
        body.setdefault("apiVersion", res.api_version)
        body.setdefault("kind", res.kind)
        if res.namespaced:
            meta["namespace"] = namespace
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), resourceVersion=self.next_rv())
        if res.plural == "pods":
            body.setdefault("status", {"phase": "Pending"})
        if res.plural == "persistentvolumeclaims":
            body.setdefault("status", {"phase": "Bound"})
        self.objects[key] = body
        await self.emit("ADDED", res.plural, body)
        return body

    async def replace(self, res: Resource, namespace: str, name: str, new: dict) -> dict:
        key = (res.plural, namespace, name)
        new["metadata"]["resourceVersion"] = self.next_rv()
        self.objects[key] = new
        await self.emit("MODIFIED", res.plural, new)
        return new

    async def delete(self, res: Resource, namespace: str, name: str) -> dict:
        obj = self.objects.pop((res.plural, namespace, name))
        obj["metadata"]["resourceVersion"] = self.next_rv()
        await self.emit("DELETED", res.plural, obj)
        return obj


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        self.body = status(code, reason, message, details)
        super().__init__(message)


def _discovery(group_version: str, resources: list[Resource]) -> dict:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": r.plural,
                "singularName": r.kind.lower(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            }
            for r in resources
        ],
    }


class Handler(web.RequestHandler):
    def initialize(self, api: ApiServer) -> None:
        self.api = api
        self.store = api.store

    def check_xsrf_cookie(self) -> None:  # an API server, not a web page
        pass

    async def prepare(self) -> None:
        self.store.requests.append((self.request.method, self.request.path, self.request.query))
        for fault in list(self.store.faults):
            if fault.method in (self.request.method, "*") and fault.path.search(self.request.path):
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self.store.faults.remove(fault)
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.status:
                    self.fail(ApiError(fault.status, "InternalError" if fault.status >= 500 else "Injected", "injected fault"))
                    return
                break

    def fail(self, error: ApiError) -> None:
        self.set_status(error.body["code"])
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(error.body))

    def reply(self, body: Any, code: int = 200) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


class DiscoveryHandler(Handler):
    def get(self, path: str) -> None:
        path = path.strip("/")
        if path == "version":
            self.reply({"major": "1", "minor": "33", "gitVersion": "v1.33.0-workspaces-standin", "platform": "linux/amd64"})
        elif path == "api":
            self.reply({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        elif path == "api/v1":
            self.reply(_discovery("v1", [r for r in RESOURCES if not r.group]))
        elif path == "apis":
            groups: dict[str, list[str]] = {}
            for r in RESOURCES:
                if r.group:
                    groups.setdefault(r.group, [])
                    if r.version not in groups[r.group]:
                        groups[r.group].append(r.version)
            self.reply(
                {
                    "kind": "APIGroupList",
                    "apiVersion": "v1",
                    "groups": [
                        {
                            "name": g,
                            "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                            "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
                        }
                        for g, vs in groups.items()
                    ],
                }
            )
        elif m := re.fullmatch(r"apis/([^/]+)/([^/]+)", path):
            found = [r for r in RESOURCES if r.group == m[1] and r.version == m[2]]
            if not found:
                self.fail(ApiError(404, "NotFound", "the server could not find the requested resource"))
            else:
                self.reply(_discovery(f"{m[1]}/{m[2]}", found))
        else:
            self.fail(ApiError(404, "NotFound", "the server could not find the requested resource"))


class ObjectHandler(Handler):
    """/api/v1/... and /apis/{group}/{version}/...: collections, objects, /status."""

    def parse(self) -> tuple[Resource, str | None, str | None, bool]:
        path = self.request.path
        m = re.fullmatch(
            r"/(?:api/(?P<cv>v1)|apis/(?P<g>[^/]+)/(?P<v>[^/]+))"
            r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?P<status>/status)?",
            path,
        )
        if not m:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        group, version = ("", m["cv"]) if m["cv"] else (m["g"], m["v"])
        res = self._resource(group, version, m["plural"])
        # namespaced: None means every namespace (list and watch only)
        namespace = m["ns"] if res.namespaced else ""
        return res, namespace, m["name"], bool(m["status"])

    def _resource(self, group: str, version: str, plural: str) -> Resource:
        for r in RESOURCES:
            if (r.group, r.version, r.plural) == (group, version, plural):
                return r
        raise ApiError(404, "NotFound", f"the server could not find the requested resource ({plural})")

    def existing(self, res: Resource, namespace: str | None, name: str | None) -> dict:
        obj = self.store.objects.get((res.plural, namespace or "", name or ""))
        if obj is None:
            raise ApiError(404, "NotFound", f'{res.plural} "{name}" not found', {"name": name, "kind": res.plural})
        return obj

    def body(self) -> Any:
        try:
            return json.loads(self.request.body or b"{}")
        except json.JSONDecodeError as e:
            raise ApiError(400, "BadRequest", f"invalid JSON: {e}") from None

    async def get(self, _path: str) -> None:
        try:
            res, namespace, name, _ = self.parse()
            query = {k: v[-1] for k, v in parse_qs(self.request.query).items()}
            if name is not None:
                return self.reply(self.existing(res, namespace, name))
            if query.get("watch", "").lower() in ("true", "1"):
                return await self.watch(res, namespace, query)
            items = [
                o
                for o in self.store.items(res.plural, namespace)
                if label_matches(o["metadata"].get("labels") or {}, query.get("labelSelector", ""))
                and field_matches(o, query.get("fieldSelector", ""))
            ]
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
            self.reply(
                {
                    "kind": f"{res.kind}List",
                    "apiVersion": res.api_version,
                    "metadata": {"resourceVersion": str(self.store.rv)},
                    "items": items,
                }
            )
        except ApiError as e:
            self.fail(e)

    async def watch(self, res: Resource, namespace: str | None, query: dict[str, str]) -> None:
        self.set_header("Content-Type", "application/json")
        labels, fields = query.get("labelSelector", ""), query.get("fieldSelector", "")
        timeout = float(query.get("timeoutSeconds", 1800))
        deadline = asyncio.get_running_loop().time() + timeout

        def wanted(plural: str, obj: dict) -> bool:
            return (
                plural == res.plural
                and (namespace is None or obj["metadata"].get("namespace", "") == namespace)
                and label_matches(obj["metadata"].get("labels") or {}, labels)
                and field_matches(obj, fields)
            )

        since = query.get("resourceVersion", "")
        if since in ("", "0"):
            last = self.store.rv
            for obj in self.store.items(res.plural, namespace):
                if wanted(res.plural, obj):
                    self.write(json.dumps({"type": "ADDED", "object": obj}) + "\n")
        else:
            last = int(since)
            oldest = self.store.history[0][0] if self.store.history else self.store.rv + 1
            if last < oldest - 1 and last < self.store.rv:
                gone = status(410, "Expired", f"too old resource version: {last} ({oldest - 1})")
                return self.reply_stream({"type": "ERROR", "object": gone})
        self.store.watches_open += 1
        try:
            await self.flush()
            while True:
                for rv, kind, plural, obj in list(self.store.history):
                    if rv > last:
                        last = rv
                        if wanted(plural, obj):
                            self.write(json.dumps({"type": kind, "object": obj}) + "\n")
                await self.flush()
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0 or self.api.stopping:
                    break
                async with self.store.changed:
                    try:
                        await asyncio.wait_for(self.store.changed.wait(), min(remaining, 1.0))
                    except asyncio.TimeoutError:
                        pass
        except StreamClosedError:
            return
        finally:
            self.store.watches_open -= 1
        self.finish()

    def reply_stream(self, event: dict) -> None:
        self.finish(json.dumps(event) + "\n")

    async def post(self, _path: str) -> None:
        try:
            res, namespace, name, _ = self.parse()
            if name is not None:
                raise ApiError(405, "MethodNotAllowed", "POST to an object")
            body = self.body()
            if res.namespaced and namespace is None:
                raise ApiError(405, "MethodNotAllowed", f"create {res.plural} in a namespace")
            if res.namespaced and self.api.require_namespaces and ("namespaces", "", namespace) not in self.store.objects:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
            obj = await self.store.create(res, namespace or "", body)
            if res.plural == "pods":
                self.api.kubelet.pod_created(obj)
            self.reply(obj, 201)
        except ApiError as e:
            self.fail(e)

    async def patch(self, _path: str) -> None:
        try:
            res, namespace, name, _ = self.parse()
            obj = self.existing(res, namespace, name)
            content_type = self.request.headers.get("Content-Type", "")
            patch = self.body()
            try:
                new = json_patch(obj, patch) if "json-patch" in content_type else merge_patch(obj, patch)
            except (KeyError, IndexError, ValueError, TypeError) as e:
                raise ApiError(422, "Invalid", f"cannot apply patch: {e}") from None
            self.reply(await self.store.replace(res, namespace or "", name or "", new))
        except ApiError as e:
            self.fail(e)

    async def put(self, _path: str) -> None:
        try:
            res, namespace, name, _ = self.parse()
            old_meta = self.existing(res, namespace, name)["metadata"]
            new = self.body()
            new.setdefault("metadata", {}).update(uid=old_meta["uid"], creationTimestamp=old_meta["creationTimestamp"])
            self.reply(await self.store.replace(res, namespace or "", name or "", new))
        except ApiError as e:
            self.fail(e)

    async def delete(self, _path: str) -> None:
        try:
            res, namespace, name, _ = self.parse()
            if name is None:
                raise ApiError(405, "MethodNotAllowed", "collection delete is not served")
            self.existing(res, namespace, name)
            obj = await self.store.delete(res, namespace or "", name)
            if res.plural == "pods":
                self.api.kubelet.pod_deleted(obj, self.grace_period())
            elif res.plural == "persistentvolumeclaims":
                self.api.kubelet.claim_deleted(obj)
            self.reply(obj)
        except ApiError as e:
            self.fail(e)

    def grace_period(self) -> float | None:
        """gracePeriodSeconds from the query, else from the DeleteOptions body."""
        value = parse_qs(self.request.query).get("gracePeriodSeconds", [None])[-1]
        if value is None and self.request.body:
            try:
                value = json.loads(self.request.body).get("gracePeriodSeconds")
            except (json.JSONDecodeError, AttributeError):
                value = None
        try:
            return None if value is None else float(value)
        except (TypeError, ValueError):
            return None


JUPYTER_COMMANDS = {"jupyterhub-singleuser", "jupyter", "jupyter-lab", "jupyter-server", "jupyter-notebook"}
DEFAULT_GRACE = 5.0  # seconds from SIGTERM to SIGKILL when the delete names none
_leased_ips: set[str] = set()  # pod IPs in use by every ApiServer of this test process
_leased_lock = threading.Lock()


def process_command(container: dict, ip: str, as_root: bool | None = None) -> list[str]:
    """argv for a container in process mode: every --ip / --X.ip bound to ``ip``, --allow-root as root."""
    argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    out: list[str] = []
    rewrite_next = False
    for arg in argv:
        if rewrite_next:
            out.append(ip)
            rewrite_next = False
        elif re.fullmatch(r"--(?:[\w-]+\.)?ip=.*", arg):
            out.append(arg.split("=", 1)[0] + "=" + ip)
        else:
            rewrite_next = bool(re.fullmatch(r"--(?:[\w-]+\.)?ip", arg))
            out.append(arg)
    if as_root is None:
        as_root = os.geteuid() == 0
    if out and os.path.basename(out[0]) in JUPYTER_COMMANDS and as_root and "--allow-root" not in out:
        out.append("--allow-root")
    return out


def process_env(container: dict, ip: str, home: str, hostname: str = "") -> dict[str, str]:
    """A minimal environment (PATH with this Python's bin, HOME, HOSTNAME) under the container's env."""
    bin_dir = os.path.dirname(sys.executable)
    env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOSTNAME": hostname}
    for item in container.get("env") or []:
        if "name" in item and "valueFrom" not in item:
            env[item["name"]] = str(item.get("value") or "")
    if bin_dir not in env["PATH"].split(":"):
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
    env["HOME"] = home  # the container's HOME does not exist here
    if url := env.get("JUPYTERHUB_SERVICE_URL"):
        parts = urlsplit(url)
        netloc = f"{ip}:{parts.port}" if parts.port else ip
        env["JUPYTERHUB_SERVICE_URL"] = urlunsplit(parts._replace(netloc=netloc))
    return env


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), so a kill reaches what left the group too."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class PodProcess:
    """The process of one pod in process mode."""

    namespace: str
    name: str
    uid: str
    ip: str
    port: int
    workdir: Path
    log: Path
    proc: asyncio.subprocess.Process | None = None
    starting: bool = True  # until the launch has been tried
    deleted: bool = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def send(self, sig: int, descendants: bool = False) -> None:
        """``sig`` to the process group (and to every descendant, for SIGKILL)."""
        if self.proc is None:
            return
        others = _descendants(self.proc.pid) if descendants else []
        for send, target in [(os.killpg, self.proc.pid)] + [(os.kill, p) for p in others]:
            try:
                send(target, sig)
            except (ProcessLookupError, PermissionError):
                pass


class Kubelet:
    """Moves pods along: Running and Ready after ``delay``, or one of the failures.

    A pod's fate is ``scenario(pod)``: "run" (default), "unschedulable",
    "image-pull" or "crash". Each emits the events a real cluster would.
    ``mode`` "status" only writes statuses; "process" runs the pod's first
    container as a local process (see the module docstring).
    """

    MODES = ("status", "process")

    def __init__(self, api: ApiServer, delay: float = 0.05, mode: str = "status"):
        if mode not in self.MODES:
            raise ValueError(f"kubelet mode {mode!r}: one of {self.MODES}")
        self.api = api
        self.delay = delay
        self.mode = mode
        self.scenario = lambda pod: "run"
        self.tasks: set[asyncio.Task] = set()
        self.processes: dict[str, PodProcess] = {}  # pod uid -> its process (process mode)
        self.probe_interval = 0.05

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def pod_created(self, pod: dict) -> None:
        self._spawn(self._advance(copy.deepcopy(pod)))

    def pod_deleted(self, pod: dict, grace: float | None = None) -> None:
        pp = self.processes.get(pod["metadata"]["uid"])
        if pp is None:
            return
        pp.deleted = True
        if pp.starting:
            return  # _run_process ends it once launched
        if pp.proc is None or pp.proc.returncode is not None:
            pp.send(signal.SIGKILL)  # what the process left in its group
            self._release(pp)
        else:
            self._spawn(self._terminate(pp, max(1.0, DEFAULT_GRACE if grace is None else grace)))

    def claim_deleted(self, claim: dict) -> None:
        """A deleted PersistentVolumeClaim takes its files along."""
        if self.api._data_dir is not None:
            meta = claim["metadata"]
            shutil.rmtree(self.api._data_dir / "claims" / _safe(meta["namespace"]) / _safe(meta["name"]), ignore_errors=True)

    def logs(self, namespace: str, name: str) -> str:
        """stdout and stderr of the newest process of pod ``namespace/name`` ("" if none ran)."""
        if self.api._data_dir is None:
            return ""
        logs = sorted((self.api._data_dir / "logs" / _safe(namespace)).glob(f"{_safe(name)}-*.log"), key=lambda p: p.stat().st_mtime)
        return logs[-1].read_text(errors="replace") if logs else ""

    async def event(self, pod: dict, reason: str, message: str, kind: str = "Normal") -> None:
        meta = pod["metadata"]
        await self.api.store.create(
            BY_PLURAL["events"],
            meta["namespace"],
            {
                "metadata": {"generateName": meta["name"] + ".", "namespace": meta["namespace"]},
                "involvedObject": {"kind": "Pod", "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
                "reason": reason,
                "message": message,
                "type": kind,
                "firstTimestamp": now(),
                "lastTimestamp": now(),
                "eventTime": None,
                "source": {"component": "standin-kubelet"},
            },
        )

    def _alive(self, pod: dict) -> bool:
        current = self.api.store.objects.get(("pods", pod["metadata"]["namespace"], pod["metadata"]["name"]))
        return current is not None and current["metadata"]["uid"] == pod["metadata"]["uid"]

    async def _set_status(self, pod: dict, status_: dict) -> None:
        key = ("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
        current = self.api.store.objects.get(key)
        if current is None or current["metadata"]["uid"] != pod["metadata"]["uid"]:
            return  # deleted meanwhile
        await self.api.store.replace(BY_PLURAL["pods"], key[1], key[2], {**current, "status": status_})

    @staticmethod
    def _containers(pod: dict) -> list[dict]:
        # what a real kubelet reports per container (the client requires name, image, imageID)
        return [
            {"name": c.get("name", "notebook"), "image": c.get("image", ""), "imageID": ""}
            for c in pod.get("spec", {}).get("containers", [])
        ] or [{"name": "notebook", "image": "", "imageID": ""}]

    async def _advance(self, pod: dict) -> None:
        await asyncio.sleep(self.delay)
        name = pod["metadata"]["name"]
        containers = self._containers(pod)
        fate = self.scenario(pod)
        if fate == "unschedulable":
            await self.event(pod, "FailedScheduling", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", "Warning")
            await self._set_status(
                pod,
                {
                    "phase": "Pending",
                    "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                         "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}
                    ],
                },
            )
            return
        await self.event(pod, "Scheduled", f"Successfully assigned {pod['metadata']['namespace']}/{name} to standin-node")
        waiting = {"image-pull": ("ImagePullBackOff", "Back-off pulling image"), "crash": ("CrashLoopBackOff", "back-off restarting failed container")}
        if fate in waiting:
            reason, message = waiting[fate]
            await self.event(pod, "Failed" if fate == "image-pull" else "BackOff", message, "Warning")
            await self._set_status(
                pod,
                {
                    "phase": "Pending" if fate == "image-pull" else "Running",
                    # a crash-looping pod has its sandbox, so an IP (KubeSpawner reads it when Running)
                    **({} if fate == "image-pull" else {"podIP": "127.0.0.1"}),
                    "containerStatuses": [
                        {**c, "ready": False, "restartCount": 0 if fate == "image-pull" else 3,
                         "state": {"waiting": {"reason": reason, "message": message}}}
                        for c in containers
                    ],
                },
            )
            return
        if self.mode == "process":
            return await self._run_process(pod, containers)
        await self.event(pod, "Started", "Started container notebook")
        await self._set_status(
            pod,
            {
                "phase": "Running",
                "podIP": "127.0.0.1",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {**c, "ready": True, "restartCount": 0, "state": {"running": {"startedAt": now()}}}
                    for c in containers
                ],
            },
        )

    # process mode

    def _lease_ip(self, port: int) -> str:
        """The lowest free 127.0.0.N, N >= 2; one where ``port`` is taken (another test run) is skipped."""
        with _leased_lock:
            free = [f"127.0.0.{n}" for n in range(2, 255) if f"127.0.0.{n}" not in _leased_ips]
            if not free:
                raise RuntimeError("no loopback address left for a pod")
            chosen = free[0]
            for ip in free:
                with socket.socket() as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
                    try:
                        probe.bind((ip, port))
                    except OSError:
                        continue
                chosen = ip
                break
            _leased_ips.add(chosen)
            return chosen

    def _release(self, pp: PodProcess) -> None:
        if self.processes.get(pp.uid) is pp:
            del self.processes[pp.uid]
            with _leased_lock:
                _leased_ips.discard(pp.ip)

    def _workdir(self, pod: dict) -> Path:
        """The folder of the first PersistentVolumeClaim the first container mounts, else a fresh one."""
        meta, spec = pod["metadata"], pod.get("spec", {})
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in spec.get("volumes") or []
            if "name" in v and (v.get("persistentVolumeClaim") or {}).get("claimName")
        }
        container = (spec.get("containers") or [{}])[0]
        ns = _safe(meta["namespace"])
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") in claims:
                path = self.api.data_dir / "claims" / ns / _safe(claims[mount["name"]])
                break
        else:
            path = self.api.data_dir / "pods" / ns / f"{_safe(meta['name'])}-{meta['uid'][:8]}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _status(self, pp: PodProcess, containers: list[dict], state: dict, ready: bool, phase: str = "Running") -> dict:
        first = {**containers[0], "ready": ready, "restartCount": 0, "started": "running" in state, "state": state}
        others = [{**c, "ready": True, "restartCount": 0, "started": True, "state": {"running": {"startedAt": now()}}} for c in containers[1:]]
        return {
            "phase": phase,
            "podIP": pp.ip,
            "podIPs": [{"ip": pp.ip}],
            "hostIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [first, *others],
        }

    async def _run_process(self, pod: dict, containers: list[dict]) -> None:
        if not self._alive(pod):
            return
        meta = pod["metadata"]
        container = (pod.get("spec", {}).get("containers") or [{}])[0]
        port = int(((container.get("ports") or [{}])[0]).get("containerPort") or 8888)
        pp = PodProcess(meta["namespace"], meta["name"], meta["uid"], self._lease_ip(port), port, self._workdir(pod), Path())
        self.processes[pp.uid] = pp
        pp.log = self.api.data_dir / "logs" / _safe(pp.namespace) / f"{_safe(pp.name)}-{pp.uid[:8]}.log"
        pp.log.parent.mkdir(parents=True, exist_ok=True)
        argv = process_command(container, pp.ip)
        env = process_env(container, pp.ip, str(pp.workdir), pp.name)
        started = now()
        error: OSError | None = None
        with open(pp.log, "ab") as log:
            log.write(f"$ cd {pp.workdir} && {' '.join(argv)}\n".encode())
            log.flush()
            try:
                if not argv:
                    raise FileNotFoundError("the container has no command")
                pp.proc = await asyncio.create_subprocess_exec(
                    *argv, cwd=pp.workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as e:
                error = e
                log.write(f"{e}\n".encode())
            finally:
                pp.starting = False
        if pp.deleted or not self._alive(pod):  # deleted while it started
            pp.deleted = True
            if pp.proc is None:
                self._release(pp)
            else:
                self._spawn(self._terminate(pp, 1.0))
            return
        if pp.proc is None:
            message = f'failed to start container "{containers[0]["name"]}": {error}'
            await self.event(pod, "Failed", f"Error: {message}", "Warning")
            state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": message, "startedAt": started, "finishedAt": now()}}
            await self._set_status(pod, self._status(pp, containers, state, False, "Failed"))
            return
        await self.event(pod, "Started", f"Started container {containers[0]['name']}")
        running = {"running": {"startedAt": started}}
        await self._set_status(pod, self._status(pp, containers, running, False))
        self._spawn(self._watch_exit(pod, pp, containers, started))  # after Running, so an early exit wins
        while pp.proc.returncode is None and not pp.deleted:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(pp.ip, pp.port), 1.0)
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(self.probe_interval)
                continue
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
            if pp.proc.returncode is None and not pp.deleted:
                await self._set_status(pod, self._status(pp, containers, running, True))
            return

    async def _watch_exit(self, pod: dict, pp: PodProcess, containers: list[dict], started: str) -> None:
        assert pp.proc is not None
        rc = await pp.proc.wait()
        if pp.deleted:
            self._release(pp)
            return
        code = rc if rc >= 0 else 128 - rc  # killed by a signal: 128 + its number, as in a container
        name = containers[0]["name"]
        await self.event(pod, "Failed" if code else "Completed", f"container {name} exited with code {code}", "Warning")
        state = {"terminated": {"exitCode": code, "reason": "Error" if code else "Completed", "startedAt": started, "finishedAt": now()}}
        await self._set_status(pod, self._status(pp, containers, state, False, "Failed" if code else "Succeeded"))

    async def _terminate(self, pp: PodProcess, grace: float) -> None:
        assert pp.proc is not None
        pp.send(signal.SIGTERM)
        try:
            await asyncio.wait_for(pp.proc.wait(), grace)
        except asyncio.TimeoutError:
            pp.send(signal.SIGKILL, descendants=True)
            await pp.proc.wait()
        self._release(pp)

    async def shutdown(self) -> None:
        """Cancel what is pending, then SIGKILL every process started and wait for it."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for pp in list(self.processes.values()):
            pp.send(signal.SIGKILL, descendants=True)
        for pp in list(self.processes.values()):
            if pp.proc is not None:
                try:
                    await asyncio.wait_for(pp.proc.wait(), 10)
                except asyncio.TimeoutError:
                    pass
            self._release(pp)


class ApiServer:
    def __init__(
        self,
        require_namespaces: bool = False,
        history: int = HISTORY,
        kubelet: str = "status",
        data_dir: str | os.PathLike | None = None,
    ):
        """``kubelet``: "status" or "process"; ``data_dir``: where process mode keeps claims, pod folders and logs."""
        self.store = Store(history=deque(maxlen=history))
        self.kubelet = Kubelet(self, mode=kubelet)
        self.require_namespaces = require_namespaces
        self.stopping = False
        self.server: HTTPServer | None = None
        self.port = 0
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._owns_data_dir = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        """The given ``data_dir``, else a temp dir made on first use and removed by ``stop()``."""
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="k8s-standin-"))
            self._owns_data_dir = True
        return self._data_dir

    def fault(self, method: str, path: str, status: int = 500, delay: float = 0.0, times: int = 1) -> None:
        self.store.faults.append(Fault(method, re.compile(path), status, delay, times))

    @classmethod
    async def start(cls, **kwargs: Any) -> ApiServer:
        api = cls(**kwargs)
        app = web.Application(
            [
                (r"/(version|api|api/v1|apis|apis/[^/]+/[^/]+)/?", DiscoveryHandler, {"api": api}),
                (r"/(apis?/.+)", ObjectHandler, {"api": api}),
            ]
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        api.port = sock.getsockname()[1]
        api.server = HTTPServer(app)
        api.server.add_sockets([sock])
        return api

    async def stop(self) -> None:
        self.stopping = True
        async with self.store.changed:
            self.store.changed.notify_all()
        await self.kubelet.shutdown()
        if self.server:
            self.server.stop()
            await self.server.close_all_connections()
        if self._owns_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)

    def kubeconfig(self, namespace: str = "default") -> dict:
        return kubeconfig(self.url, namespace)


class ApiServerThread:
    """The stand-in on its own event loop in a thread, for synchronous tests."""

    def __init__(self, **kwargs: Any):
        self.kwargs = kwargs
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ApiServer:
        self.thread.start()
        self.api = self.call(ApiServer.start(**self.kwargs))
        return self.api

    def call(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __exit__(self, *exc: Any) -> None:
        self.call(self.api.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
