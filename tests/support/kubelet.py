"""Simulated nodes and a volume provisioner for the real control plane.

No container runtime exists where the tests run, so this stands in for the
kubelets and for an external storage provisioner, through the API server as
theirs do (kwok is the model):

- ``Kubelet`` registers Node objects with capacity (cpu, memory, pods and any
  extended resource such as ``nvidia.com/gpu``), keeps their Leases fresh,
  and works only on pods that the real scheduler has bound to its nodes. It
  writes pod status through ``pods/status``, emits the events a kubelet does,
  and finishes a deleted pod's graceful termination by deleting it with a
  grace period of 0, as a kubelet does. ``mode`` "status" (the default) only
  writes statuses: a pod is Running and Ready at 127.0.0.1 and nothing runs;
  "process" runs its first container as a local process (below).
- ``Provisioner`` creates a PersistentVolume for each claim of a storage class
  whose provisioner is ``PROVISIONER``, as an external provisioner does; the
  controller manager binds them. A class with the parameter ``failure`` emits
  ``ProvisioningFailed`` with that message instead. Released volumes are deleted.

Both run on an event loop of their own in a thread.

Process mode (``kubelet.mode = "process"``; command, environment and address
are ``tests/support/pod_process.py``'s): the pod's first container runs on
its own 127.0.0.N, its ``status.podIP``, with its env's Secret references
resolved. Its working directory, and HOME, is the volume of the first
PersistentVolumeClaim the container mounts (``<data_dir>/volumes/<volume>``,
where the provisioner made it), so successive pods of one claim share files;
a pod without a claim gets ``<data_dir>/pods/<ns>-<pod>-<uid>``. Its stdout and
stderr go to ``<data_dir>/logs/<ns>-<pod>-<uid>.log`` (``logs(namespace,
name)`` reads the newest). The pod is Running, not ready, once the process is
launched, and Ready once the container port (``ports[0].containerPort``,
default 8888) accepts connections on the pod IP. A process that exits by
itself makes the pod Failed (exit code other than 0, with a Warning event) or
Succeeded. A deleted pod stays Terminating until its process has ended:
SIGTERM to its process group, SIGKILL to everything it started after the
grace period (the deletion's, at least 1 s). ``stop()`` kills every process
left and waits for it; ``processes`` maps pod uid to its ``PodProcess``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import signal
import ssl
import subprocess
import threading
import traceback
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp

from .cluster import ControlPlane, path
from .pod_process import DEFAULT_GRACE, PodProcess, lease_address, process_command, process_env, release_address, safe_name

PROVISIONER = "workspaces.test/simulated"
LEASE_SECONDS = 40


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Node:
    """A simulated node: its name, what it offers, its labels and taints."""

    name: str
    cpu: str = "8"
    memory: str = "32Gi"
    pods: str = "110"
    extended: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)

    def object(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", **self.labels},
            },
            "spec": {"taints": self.taints},
        }

    def status(self) -> dict[str, Any]:
        resources = {"cpu": self.cpu, "memory": self.memory, "pods": self.pods, **self.extended}
        heartbeat = now()
        conditions = [
            {"type": kind, "status": "False", "reason": f"KubeletHas{reason}", "message": reason,
             "lastHeartbeatTime": heartbeat, "lastTransitionTime": heartbeat}
            for kind, reason in [("MemoryPressure", "SufficientMemory"), ("DiskPressure", "NoDiskPressure"), ("PIDPressure", "SufficientPID")]
        ]
        conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                           "lastHeartbeatTime": heartbeat, "lastTransitionTime": heartbeat})
        return {
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": conditions,
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": self.name}],
                "nodeInfo": {
                    "machineID": self.name, "systemUUID": self.name, "bootID": self.name, "kernelVersion": "simulated",
                    "osImage": "simulated", "containerRuntimeVersion": "simulated://1", "kubeletVersion": "v1.37.2",
                    "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
                },
            }
        }


class Api:
    """The admin's asynchronous REST access, for the simulated components."""

    def __init__(self, plane: ControlPlane):
        self.url = plane.url
        context = ssl.create_default_context(cafile=plane.ca_file)
        context.load_cert_chain(str(plane.dir / "admin.crt"), str(plane.dir / "admin.key"))
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=20))

    async def request(self, method: str, url_path: str, body: Any = None, *, params: dict | None = None,
                      content_type: str = "application/json", ok: tuple[int, ...] = ()) -> dict[str, Any] | None:
        """The answer; None for a refusal whose code is in ``ok`` (404 on a delete, 409 on a create...)."""
        data = json.dumps(body) if body is not None else None
        async with self.session.request(method, self.url + url_path, data=data, params=params,
                                        headers={"Content-Type": content_type}) as r:
            answer = await r.json(content_type=None)
            if r.status in ok:
                return None
            if r.status >= 400:
                raise RuntimeError(f"{method} {url_path}: {r.status} {answer.get('message')}")
            return answer

    async def watch(self, plural: str, **params: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(type, object) for what is there, then for every change; relists after 410 Gone or a closed watch."""
        while True:
            listing = await self.request("GET", path(plural), params=params)
            for item in listing["items"]:
                yield "ADDED", item
            version = listing["metadata"]["resourceVersion"]
            while version:
                query = {**params, "watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true", "timeoutSeconds": "300"}
                async with self.session.get(self.url + path(plural), params=query, timeout=aiohttp.ClientTimeout(total=None)) as r:
                    if r.status >= 400:
                        version = ""
                        break
                    ended = True
                    async for line in r.content:
                        event = json.loads(line)
                        obj = event["object"]
                        if event["type"] == "ERROR":  # 410 Gone: list again
                            version = ""
                            ended = False
                            break
                        version = obj["metadata"].get("resourceVersion", version)
                        if event["type"] != "BOOKMARK":
                            yield event["type"], obj
                    if ended and version:
                        continue

    async def event(self, obj: dict[str, Any], reason: str, message: str, kind: str = "Normal", component: str = "kubelet",
                    host: str = "") -> None:
        meta = obj["metadata"]
        involved = {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj.get("kind", "Pod"), "name": meta["name"],
                    "namespace": meta.get("namespace", ""), "uid": meta["uid"], "resourceVersion": meta.get("resourceVersion", "")}
        await self.request("POST", path("events", meta.get("namespace") or "default"), {
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta.get("namespace") or "default"},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": kind,
            "count": 1,
            "firstTimestamp": now(),
            "lastTimestamp": now(),
            "source": {"component": component, **({"host": host} if host else {})},
            "reportingComponent": component,
            "reportingInstance": host or component,
        }, ok=(404, 403))  # a namespace being deleted takes no more events

    async def close(self) -> None:
        await self.session.close()


class Simulated:
    """Something that runs on its own event loop in a thread, until ``stop()``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            traceback.print_exception(task.exception())

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> Simulated:
        self.thread.start()
        self.call(self.setup())
        return self

    async def setup(self) -> None:
        raise NotImplementedError

    async def teardown(self) -> None:
        pass

    def stop(self) -> None:
        async def end() -> None:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await self.teardown()

        self.call(end())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Kubelet(Simulated):
    """Nodes that run what the scheduler binds to them.

    ``scenario(pod)`` picks a pod's fate: "run" (default), "image-pull" or
    "crash". Scheduling, and so "Insufficient nvidia.com/gpu", is the real
    scheduler's. ``mode`` "status" only writes statuses (Running and Ready at
    127.0.0.1); "process" runs the first container as a local process.
    """

    def __init__(self, plane: ControlPlane, nodes: list[Node], mode: str = "status", data_dir: Path | None = None,
                 delay: float = 0.05):
        super().__init__()
        self.plane = plane
        self.nodes = {n.name: n for n in nodes}
        self.mode = mode
        self.delay = delay
        self.data_dir = data_dir or plane.dir / "kubelet"
        self.scenario: Callable[[dict[str, Any]], str] = lambda pod: "run"
        self.seen: set[str] = set()  # pod uids being worked on
        self.ending: set[str] = set()  # pod uids whose deletion has begun
        self.processes: dict[str, PodProcess] = {}
        self.claims: dict[tuple[str, str], str] = {}  # (namespace, claim) -> volume name
        self.probe_interval = 0.05
        # seconds a container without a process (status mode) takes to stop, within its grace period
        self.stop_delay = 0.0

    async def setup(self) -> None:
        self.api = Api(self.plane)
        for node in self.nodes.values():
            await self.api.request("POST", path("nodes"), node.object(), ok=(409,))
            await self.api.request("PATCH", path("nodes", name=node.name, sub="status"), node.status(),
                                   content_type="application/merge-patch+json")
        self.spawn(self._heartbeats())
        self.spawn(self._follow_claims())
        self.spawn(self._follow_pods())

    async def teardown(self) -> None:
        for pp in list(self.processes.values()):
            pp.send(signal.SIGKILL, tree=True)
        for pp in list(self.processes.values()):
            if pp.proc is not None:
                try:
                    await asyncio.wait_for(pp.proc.wait(), 10)
                except asyncio.TimeoutError:
                    pass
            self._release(pp)
        await self.api.close()

    # -- nodes -----------------------------------------------------------------

    async def _heartbeats(self) -> None:
        """Each node's Lease renewed every 10 s: the node lifecycle controller keeps it Ready."""
        while True:
            for name in self.nodes:
                lease = {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": name, "namespace": "kube-node-lease"},
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": now_micro()},
                }
                current = await self.api.request("GET", path("leases", "kube-node-lease", name), ok=(404,))
                if current is None:
                    await self.api.request("POST", path("leases", "kube-node-lease"), lease, ok=(409,))
                else:
                    await self.api.request("PATCH", path("leases", "kube-node-lease", name), {"spec": lease["spec"]},
                                           content_type="application/merge-patch+json")
            await asyncio.sleep(10)

    # -- pods --------------------------------------------------------------------

    async def _follow_claims(self) -> None:
        async for kind, claim in self.api.watch("persistentvolumeclaims"):
            key = (claim["metadata"]["namespace"], claim["metadata"]["name"])
            if kind == "DELETED":
                self.claims.pop(key, None)
            elif volume := claim["spec"].get("volumeName"):
                self.claims[key] = volume

    async def _follow_pods(self) -> None:
        async for kind, pod in self.api.watch("pods"):
            meta = pod["metadata"]
            if pod["spec"].get("nodeName") not in self.nodes:
                continue
            if kind == "DELETED":
                self._pod_gone(meta["uid"])
            elif meta.get("deletionTimestamp"):
                if meta["uid"] not in self.seen or not self._terminating(meta["uid"]):
                    self.seen.add(meta["uid"])
                    self.spawn(self._finish_deletion(pod))
            elif meta["uid"] not in self.seen:
                self.seen.add(meta["uid"])
                self.spawn(self._advance(pod))

    def _terminating(self, uid: str) -> bool:
        pp = self.processes.get(uid)
        return pp is not None and pp.deleted

    def _pod_gone(self, uid: str) -> None:
        self.seen.discard(uid)
        self.ending.add(uid)
        pp = self.processes.get(uid)
        if pp is not None and not pp.deleted:
            pp.deleted = True
            self.spawn(self._terminate(pp, 1.0))

    async def _finish_deletion(self, pod: dict[str, Any]) -> None:
        """Stop the containers within the grace period, then remove the pod for good."""
        meta = pod["metadata"]
        self.ending.add(meta["uid"])
        grace = meta.get("deletionGracePeriodSeconds")
        grace = DEFAULT_GRACE if grace is None else float(grace)
        pp = self.processes.get(meta["uid"])
        if pp is not None and not pp.deleted:
            pp.deleted = True
            await self._terminate(pp, max(1.0, grace))
        elif pp is None:
            await asyncio.sleep(min(self.stop_delay, grace))
        await self.api.request(
            "DELETE", path("pods", meta["namespace"], meta["name"]),
            {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}},
            ok=(404, 409),
        )

    async def _status(self, pod: dict[str, Any], status: dict[str, Any]) -> None:
        meta = pod["metadata"]
        await self.api.request("PATCH", path("pods", meta["namespace"], meta["name"], "status"), {"status": status},
                               content_type="application/merge-patch+json", ok=(404, 409))

    async def _event(self, pod: dict[str, Any], reason: str, message: str, kind: str = "Normal") -> None:
        await self.api.event({**pod, "kind": "Pod", "apiVersion": "v1"}, reason, message, kind, host=pod["spec"]["nodeName"])

    @staticmethod
    def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": c["name"], "image": c.get("image", ""), "imageID": ""} for c in pod["spec"]["containers"]]

    async def _advance(self, pod: dict[str, Any]) -> None:
        await asyncio.sleep(self.delay)
        if pod["metadata"]["uid"] in self.ending:
            return  # deleted before its containers started
        containers = self._containers(pod)
        fate = self.scenario(pod)
        started = now()
        base = {"hostIP": "127.0.0.1", "startTime": started,
                "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": started}]}
        if fate == "image-pull":
            image = containers[0]["image"]
            await self._event(pod, "Failed", f'Failed to pull image "{image}": not found', "Warning")
            await self._event(pod, "BackOff", f'Back-off pulling image "{image}"', "Normal")
            await self._status(pod, {**base, "phase": "Pending", "containerStatuses": [
                {**c, "ready": False, "restartCount": 0, "started": False,
                 "state": {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{c["image"]}"'}}}
                for c in containers]})
            return
        await self._event(pod, "Pulled", f'Container image "{containers[0]["image"]}" already present on machine')
        if fate == "crash":
            await self._event(pod, "BackOff", "Back-off restarting failed container", "Warning")
            await self._status(pod, {**base, "phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
                                     "containerStatuses": [
                {**c, "ready": False, "restartCount": 3, "started": False,
                 "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}}}
                for c in containers]})
            return
        if self.mode == "process":
            return await self._run_process(pod, containers, base)
        await self._event(pod, "Started", f"Started container {containers[0]['name']}")
        await self._status(pod, {**base, "phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
                                 "conditions": [*base["conditions"], {"type": "Ready", "status": "True", "lastTransitionTime": now()}],
                                 "containerStatuses": [
            {**c, "ready": True, "restartCount": 0, "started": True, "state": {"running": {"startedAt": started}}}
            for c in containers]})

    # -- process mode --------------------------------------------------------------

    def _release(self, pp: PodProcess) -> None:
        if self.processes.get(pp.uid) is pp:
            del self.processes[pp.uid]
            release_address(pp.ip)

    async def _workdir(self, pod: dict[str, Any]) -> Path:
        """The volume of the first claim the first container mounts, else a folder of the pod's own."""
        meta, spec = pod["metadata"], pod["spec"]
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes") or [] if v.get("persistentVolumeClaim")}
        mounted = [claims[m["name"]] for m in spec["containers"][0].get("volumeMounts") or [] if m["name"] in claims]
        volume = await self._volume(meta["namespace"], mounted[0]) if mounted else None
        if volume:
            folder = self.data_dir / "volumes" / volume
        else:
            folder = self.data_dir / "pods" / f"{safe_name(meta['namespace'])}-{safe_name(meta['name'])}-{meta['uid'][:8]}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    async def _volume(self, namespace: str, claim: str) -> str | None:
        """The volume bound to a claim.

        The scheduler binds a pod only once its claims are bound, but this
        kubelet's claim watch may lag behind its pod watch: then the API
        server is asked.
        """
        if volume := self.claims.get((namespace, claim)):
            return volume
        found = await self.api.request("GET", path("persistentvolumeclaims", namespace, claim), ok=(404,))
        return ((found or {}).get("spec") or {}).get("volumeName")

    async def _env(self, pod: dict[str, Any], container: dict[str, Any]) -> list[dict[str, Any]]:
        """The container's env with Secret references resolved, as the kubelet does."""
        env = []
        for item in container.get("env") or []:
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                secret = await self.api.request("GET", path("secrets", pod["metadata"]["namespace"], ref["name"]), ok=(404,))
                data = (secret or {}).get("data") or {}
                if ref["key"] in data:
                    env.append({"name": item["name"], "value": base64.b64decode(data[ref["key"]]).decode()})
                continue
            env.append(item)
        return env

    def _process_status(self, pp: PodProcess, containers: list[dict], base: dict, state: dict, ready: bool,
                        phase: str = "Running") -> dict[str, Any]:
        first = {**containers[0], "ready": ready, "restartCount": 0, "started": "running" in state, "state": state}
        others = [{**c, "ready": True, "restartCount": 0, "started": True, "state": {"running": {"startedAt": now()}}} for c in containers[1:]]
        return {
            **base, "phase": phase, "podIP": pp.ip, "podIPs": [{"ip": pp.ip}],
            "conditions": [*base["conditions"], {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now()}],
            "containerStatuses": [first, *others],
        }

    async def _run_process(self, pod: dict[str, Any], containers: list[dict], base: dict) -> None:
        meta = pod["metadata"]
        container = pod["spec"]["containers"][0]
        port = int(((container.get("ports") or [{}])[0]).get("containerPort") or 8888)
        pp = PodProcess(meta["namespace"], meta["name"], meta["uid"], lease_address(port), port, Path(), Path())
        self.processes[pp.uid] = pp  # before any wait, so a deletion meanwhile finds it; the launch below then ends at once
        pp.deleted = pp.uid in self.ending
        pp.workdir = await self._workdir(pod)
        pp.log = self.data_dir / "logs" / f"{safe_name(pp.namespace)}-{safe_name(pp.name)}-{pp.uid[:8]}.log"
        pp.log.parent.mkdir(parents=True, exist_ok=True)
        resolved = {**container, "env": await self._env(pod, container)}
        argv = process_command(resolved, pp.ip)
        env = process_env(resolved, pp.ip, str(pp.workdir), pp.name)
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
        if pp.deleted:
            if pp.proc is not None:
                await self._terminate(pp, 1.0)
            self._release(pp)
            return
        if pp.proc is None:
            message = f'failed to start container "{containers[0]["name"]}": {error}'
            await self._event(pod, "Failed", f"Error: {message}", "Warning")
            state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": message, "startedAt": started, "finishedAt": now()}}
            await self._status(pod, self._process_status(pp, containers, base, state, False, "Failed"))
            self._release(pp)
            return
        await self._event(pod, "Started", f"Started container {containers[0]['name']}")
        running = {"running": {"startedAt": started}}
        await self._status(pod, self._process_status(pp, containers, base, running, False))
        self.spawn(self._watch_exit(pod, pp, containers, base, started))
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
                await self._status(pod, self._process_status(pp, containers, base, running, True))
            return

    async def _watch_exit(self, pod: dict, pp: PodProcess, containers: list[dict], base: dict, started: str) -> None:
        assert pp.proc is not None
        rc = await pp.proc.wait()
        if pp.deleted:
            return
        code = rc if rc >= 0 else 128 - rc
        name = containers[0]["name"]
        await self._event(pod, "BackOff" if code else "Completed", f"container {name} exited with code {code}", "Warning")
        state = {"terminated": {"exitCode": code, "reason": "Error" if code else "Completed", "startedAt": started, "finishedAt": now()}}
        await self._status(pod, self._process_status(pp, containers, base, state, False, "Failed" if code else "Succeeded"))

    async def _terminate(self, pp: PodProcess, grace: float) -> None:
        if pp.proc is None:
            self._release(pp)
            return
        pp.send(signal.SIGTERM)
        try:
            await asyncio.wait_for(pp.proc.wait(), grace)
        except asyncio.TimeoutError:
            pp.send(signal.SIGKILL, tree=True)
            await pp.proc.wait()
        self._release(pp)

    def logs(self, namespace: str, name: str) -> str:
        """Output of the newest process of pod ``namespace/name`` ("" if none ran)."""
        logs = sorted((self.data_dir / "logs").glob(f"{safe_name(namespace)}-{safe_name(name)}-*.log"), key=lambda p: p.stat().st_mtime)
        return logs[-1].read_text(errors="replace") if logs else ""


class Provisioner(Simulated):
    """An external provisioner for storage classes whose provisioner is ``PROVISIONER``."""

    def __init__(self, plane: ControlPlane, data_dir: Path | None = None):
        super().__init__()
        self.plane = plane
        self.data_dir = data_dir or plane.dir / "kubelet"
        self.classes: dict[str, dict[str, Any]] = {}

    async def setup(self) -> None:
        self.api = Api(self.plane)
        self.spawn(self._follow_classes())
        self.spawn(self._follow_claims())
        self.spawn(self._follow_volumes())

    async def teardown(self) -> None:
        await self.api.close()

    async def _follow_classes(self) -> None:
        async for kind, sc in self.api.watch("storageclasses"):
            if kind == "DELETED":
                self.classes.pop(sc["metadata"]["name"], None)
            else:
                self.classes[sc["metadata"]["name"]] = sc

    async def _follow_claims(self) -> None:
        async for kind, claim in self.api.watch("persistentvolumeclaims"):
            annotations = claim["metadata"].get("annotations") or {}
            wanted = annotations.get("volume.kubernetes.io/storage-provisioner") == PROVISIONER
            if kind != "DELETED" and wanted and not claim["spec"].get("volumeName") and not claim["metadata"].get("deletionTimestamp"):
                self.spawn(self._provision(claim))

    async def _provision(self, claim: dict[str, Any]) -> None:
        meta, spec = claim["metadata"], claim["spec"]
        sc = self.classes.get(spec.get("storageClassName") or "")
        if sc is None:
            return  # the controller manager reports a class that does not exist
        claim_object = {**claim, "kind": "PersistentVolumeClaim", "apiVersion": "v1"}
        if failure := (sc.get("parameters") or {}).get("failure"):
            await self.api.event(claim_object, "ProvisioningFailed",
                                 f'failed to provision volume with StorageClass "{sc["metadata"]["name"]}": {failure}',
                                 "Warning", component=f"{PROVISIONER}_simulated")
            return
        name = f"pvc-{meta['uid']}"
        volume = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
            "spec": {
                "capacity": {"storage": spec["resources"]["requests"]["storage"]},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
                "storageClassName": sc["metadata"]["name"],
                "volumeMode": spec.get("volumeMode", "Filesystem"),
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                             "name": meta["name"], "uid": meta["uid"]},
                "hostPath": {"path": str(self.data_dir / "volumes" / name), "type": "DirectoryOrCreate"},
            },
        }
        (self.data_dir / "volumes" / name).mkdir(parents=True, exist_ok=True)
        if await self.api.request("POST", path("persistentvolumes"), volume, ok=(409,)) is not None:
            await self.api.event(claim_object, "ProvisioningSucceeded", f"Successfully provisioned volume {name}",
                                 component=f"{PROVISIONER}_simulated")

    async def _follow_volumes(self) -> None:
        async for kind, pv in self.api.watch("persistentvolumes"):
            annotations = pv["metadata"].get("annotations") or {}
            released = (pv.get("status") or {}).get("phase") == "Released"
            if kind != "DELETED" and released and annotations.get("pv.kubernetes.io/provisioned-by") == PROVISIONER \
                    and pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
                await self.api.request("DELETE", path("persistentvolumes", name=pv["metadata"]["name"]), ok=(404,))
                shutil.rmtree(self.data_dir / "volumes" / pv["metadata"]["name"], ignore_errors=True)
