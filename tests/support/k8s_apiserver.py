"""A Kubernetes API server stand-in on loopback, for the faults a real one cannot be made to show.

The other Kubernetes tests use the real control plane (tests/support/cluster.py,
with the simulated nodes of tests/support/kubelet.py). This remains because a
real API server cannot be made, on demand, to answer a chosen request with an
error status such as 429, 500 or 503 (``api.fault(method, path_regex, status,
times=...)``), to answer it late (``delay=``), or to forget old
resourceVersions early so that a watch gets 410 Gone (``history=``, the
events kept).

Around that it serves what the backend needs to start and stop a workspace:
core objects (/api/v1) per namespace with uid, resourceVersion and
creationTimestamp; lists with label and field selectors; watches from a
resourceVersion with timeoutSeconds; create 201/409, get 404 and delete like
the real one. It logs every request (``api.store.requests``) and holds what
was written (``api.store``). Its kubelet only writes statuses: after
``api.kubelet.delay`` a pod is Running and Ready at 127.0.0.1, or fails as
``api.kubelet.scenario(pod)`` says: "run" (default), "unschedulable",
"image-pull" or "crash". Nothing runs.

Use in-process: ``api = await ApiServer.start()``; ``api.url``; ``await api.stop()``.
In a thread, for synchronous tests: ``with ApiServerThread() as api: ...``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import socket
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError


@dataclass(frozen=True)
class Resource:
    """A resource of the core group, /api/v1."""

    plural: str
    kind: str
    namespaced: bool = True
    api_version = "v1"


RESOURCES = [
    Resource("pods", "Pod"),
    Resource("persistentvolumeclaims", "PersistentVolumeClaim"),
    Resource("services", "Service"),
    Resource("secrets", "Secret"),
    Resource("configmaps", "ConfigMap"),
    Resource("serviceaccounts", "ServiceAccount"),
    Resource("events", "Event"),
    # listed by the spawner before a start (capacity); the stand-in admits every start
    Resource("resourcequotas", "ResourceQuota"),
    Resource("namespaces", "Namespace", namespaced=False),
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


class ObjectHandler(Handler):
    """/api/v1/...: collections and objects."""

    def parse(self) -> tuple[Resource, str | None, str | None]:
        m = re.fullmatch(r"/api/v1(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?", self.request.path)
        if not m:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        res = BY_PLURAL.get(m["plural"])
        if res is None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({m['plural']})")
        # namespaced: None means every namespace (list and watch only)
        namespace = m["ns"] if res.namespaced else ""
        return res, namespace, m["name"]

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
            res, namespace, name = self.parse()
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
        self.finish()

    def reply_stream(self, event: dict) -> None:
        self.finish(json.dumps(event) + "\n")

    async def post(self, _path: str) -> None:
        try:
            res, namespace, name = self.parse()
            if name is not None:
                raise ApiError(405, "MethodNotAllowed", "POST to an object")
            body = self.body()
            if res.namespaced and namespace is None:
                raise ApiError(405, "MethodNotAllowed", f"create {res.plural} in a namespace")
            obj = await self.store.create(res, namespace or "", body)
            if res.plural == "pods":
                self.api.kubelet.pod_created(obj)
            self.reply(obj, 201)
        except ApiError as e:
            self.fail(e)

    async def patch(self, _path: str) -> None:
        """A merge of the body's metadata into the object: what the backend patches (a Secret's owner)."""
        try:
            res, namespace, name = self.parse()
            if name is None:
                raise ApiError(405, "MethodNotAllowed", "PATCH of a collection")
            current = self.existing(res, namespace, name)
            metadata = {**current["metadata"], **(self.body().get("metadata") or {})}
            self.reply(await self.store.replace(res, namespace or "", name, {**current, "metadata": metadata}))
        except ApiError as e:
            self.fail(e)

    async def delete(self, _path: str) -> None:
        try:
            res, namespace, name = self.parse()
            if name is None:
                raise ApiError(405, "MethodNotAllowed", "collection delete is not served")
            self.existing(res, namespace, name)
            self.reply(await self.store.delete(res, namespace or "", name))
        except ApiError as e:
            self.fail(e)


class Kubelet:
    """Moves pods along by writing their status: Running and Ready after ``delay``, or one of the failures.

    A pod's fate is ``scenario(pod)``: "run" (default), "unschedulable",
    "image-pull" or "crash". Each emits the events a real cluster would.
    """

    def __init__(self, api: ApiServer, delay: float = 0.05):
        self.api = api
        self.delay = delay
        self.scenario = lambda pod: "run"
        self.tasks: set[asyncio.Task] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def pod_created(self, pod: dict) -> None:
        self._spawn(self._advance(copy.deepcopy(pod)))

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

    async def shutdown(self) -> None:
        """Cancel what is pending."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class ApiServer:
    def __init__(self, history: int = HISTORY):
        """``history``: watch events kept; a watch from an older resourceVersion gets 410 Gone."""
        self.store = Store(history=deque(maxlen=history))
        self.kubelet = Kubelet(self)
        self.stopping = False
        self.server: HTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fault(self, method: str, path: str, status: int = 500, delay: float = 0.0, times: int = 1) -> None:
        self.store.faults.append(Fault(method, re.compile(path), status, delay, times))

    @classmethod
    async def start(cls, **kwargs: Any) -> ApiServer:
        api = cls(**kwargs)
        app = web.Application([(r"/(api/.+)", ObjectHandler, {"api": api})])
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
