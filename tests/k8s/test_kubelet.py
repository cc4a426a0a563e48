"""The simulated kubelet in process mode, on the real cluster: a pod's first container runs as a local process.

The admin makes the pods, in fresh namespaces without a Pod Security label
(which admit any pod); the real scheduler binds them to the simulated nodes,
and the kubelet runs each on a loopback address of its own.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ..support.cluster import wait_until
from ..support.cluster_fixture import Cluster
from ..support.kubelet import Kubelet, Node
from ..support.pod_process import process_command

# an HTTP server that binds to --ip and --port, as jupyterhub-singleuser does, and tells about itself
SERVER = """
import http.server, json, os, sys, time
opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
while os.environ.get("GATE") and not os.path.exists(os.environ["GATE"]):
    time.sleep(0.01)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"pid": os.getpid(), "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.HTTPServer((opts["ip"], int(opts["port"])), Handler).serve_forever()
"""

# marks its pid in MARKS, and "TERM" there on each SIGTERM, which it ignores
IGNORES_SIGTERM = """
import os, signal, time
signal.signal(signal.SIGTERM, lambda *_: open({marks!r}, "a").write("TERM "))
open({marks!r}, "a").write(f"{{os.getpid()}} ")
while True:
    time.sleep(0.01)
"""

TIMEOUT = 30  # seconds for a pod to get somewhere, on two busy cores


@pytest.fixture(scope="module")
def kubelet(cluster: Cluster) -> Iterator[Kubelet]:
    """The session's kubelet, running pods as processes while this module runs."""
    cluster.kubelet.mode = "process"
    try:
        yield cluster.kubelet
    finally:
        cluster.kubelet.mode = "status"


@pytest.fixture
def ns(cluster: Cluster, kubelet: Kubelet) -> Iterator[str]:
    """A fresh namespace without a Pod Security label; removed after the test."""
    name = cluster.namespace("kubelet")
    yield name
    cluster.delete_namespace(name)


def process_pod(name: str, command: list[str], args: tuple[str, ...] = (), env: tuple[dict, ...] = (), port: int = 8888,
                claim: str = "") -> dict[str, Any]:
    container = {"name": "notebook", "image": "python", "command": command, "args": list(args), "env": list(env),
                 "ports": [{"containerPort": port}]}
    spec: dict[str, Any] = {"containers": [container], "restartPolicy": "Never"}
    if claim:  # mounted the way KubeSpawner mounts the home volume
        spec["volumes"] = [{"name": "home", "persistentVolumeClaim": {"claimName": claim}}]
        container["volumeMounts"] = [{"name": "home", "mountPath": "/home/jovyan"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def server_pod(name: str, port: int, env: tuple[dict, ...] = ()) -> dict[str, Any]:
    return process_pod(name, [sys.executable, "-c", SERVER], ("--ip=0.0.0.0", f"--port={port}"), env, port)


def python_pod(name: str, code: str, claim: str = "") -> dict[str, Any]:
    return process_pod(name, [sys.executable, "-c", code], claim=claim)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_status(cluster: Cluster, ns: str, name: str, test: Callable[[dict], bool], what: str) -> dict[str, Any]:
    def check() -> dict | None:
        status = cluster.admin.get("pods", name, ns).get("status") or {}
        return status if test(status) else None

    return wait_until(check, TIMEOUT, what, interval=0.05)


def is_ready(status: dict) -> bool:
    return bool(status.get("containerStatuses")) and all(c["ready"] for c in status["containerStatuses"])


def has_ended(status: dict) -> bool:
    return status.get("phase") in ("Succeeded", "Failed")


def ready_condition(status: dict) -> str:
    return next(c["status"] for c in status["conditions"] if c["type"] == "Ready")


def ask(status: dict, port: int) -> dict[str, Any]:
    """What the server in the pod says about itself."""
    return requests.get(f"http://{status['podIP']}:{port}/", timeout=5).json()


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except OSError:  # gone before the open, or reaped between the open and the read (ESRCH)
        return False


def first_mark(marks: Path) -> int:
    """The pid a process wrote first into ``marks``."""
    return int(wait_until(lambda: marks.exists() and marks.read_text(), TIMEOUT, "the pid", interval=0.05).split()[0])


def bound_claim(cluster: Cluster, ns: str, name: str) -> None:
    """A claim of the default class, provisioned by the simulated provisioner and bound by the controller manager."""
    cluster.admin.create("persistentvolumeclaims", {
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }, ns)
    wait_until(lambda: (cluster.admin.get("persistentvolumeclaims", name, ns).get("status") or {}).get("phase") == "Bound",
               60, f"claim {name} to be bound")


def test_each_pod_runs_on_its_own_loopback_address(cluster, ns):
    port = free_port()
    cluster.admin.create("pods", server_pod("a", port), ns)
    cluster.admin.create("pods", server_pod("b", port), ns)
    a = wait_status(cluster, ns, "a", is_ready, "a ready")
    b = wait_status(cluster, ns, "b", is_ready, "b ready")
    assert a["podIP"] != b["podIP"]
    assert {a["podIP"], b["podIP"]} <= {f"127.0.0.{n}" for n in range(2, 255)}
    assert ask(a, port)["pid"] != ask(b, port)["pid"]
    with pytest.raises(ConnectionRefusedError):  # bound to the pod IP, not to every address
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_a_pod_is_ready_only_once_its_port_accepts_connections(cluster, ns, tmp_path):
    port, gate = free_port(), tmp_path / "gate"
    cluster.admin.create("pods", server_pod("p1", port, ({"name": "GATE", "value": str(gate)},)), ns)
    status = wait_status(cluster, ns, "p1", lambda s: s.get("phase") == "Running", "Running")
    assert status["containerStatuses"][0]["ready"] is False and "running" in status["containerStatuses"][0]["state"]
    assert ready_condition(status) == "False"
    gate.touch()  # now the server binds its port
    status = wait_status(cluster, ns, "p1", is_ready, "ready")
    assert ready_condition(status) == "True"
    assert ask(status, port)["cwd"]


def test_deleting_a_pod_terminates_its_process(cluster, ns):
    port = free_port()
    cluster.admin.create("pods", server_pod("p1", port), ns)
    pid = ask(wait_status(cluster, ns, "p1", is_ready, "ready"), port)["pid"]
    assert running(pid)
    cluster.admin.delete("pods", "p1", ns)
    wait_until(lambda: not running(pid), TIMEOUT, "the process to end", interval=0.05)


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(cluster, ns, tmp_path):
    marks = tmp_path / "marks"
    cluster.admin.create("pods", python_pod("p1", IGNORES_SIGTERM.format(marks=str(marks))), ns)
    pid = first_mark(marks)
    cluster.admin.delete("pods", "p1", ns, gracePeriodSeconds=1)
    wait_until(lambda: not running(pid), TIMEOUT, "the process to be killed", interval=0.05)
    assert marks.read_text().split()[1:] == ["TERM"]


def test_a_deleted_pod_stays_terminating_until_its_process_has_ended_then_is_gone(cluster, ns, tmp_path):
    marks, gate = tmp_path / "marks", tmp_path / "gate"
    # on SIGTERM it marks, then ends only once the gate exists
    code = f"""
import os, signal, time
def term(*_):
    open({str(marks)!r}, "a").write("TERM ")
    while not os.path.exists({str(gate)!r}):
        time.sleep(0.01)
    raise SystemExit(0)
signal.signal(signal.SIGTERM, term)
open({str(marks)!r}, "a").write(f"{{os.getpid()}} ")
while True:
    time.sleep(0.01)
"""
    cluster.admin.create("pods", python_pod("p1", code), ns)
    pid = first_mark(marks)
    cluster.admin.delete("pods", "p1", ns, gracePeriodSeconds=120)  # longer than the test: the kubelet does not kill it
    wait_until(lambda: "TERM" in marks.read_text(), TIMEOUT, "SIGTERM", interval=0.05)
    pod = cluster.admin.find("pods", "p1", ns)
    assert pod is not None and pod["metadata"]["deletionTimestamp"] and running(pid)
    gate.touch()
    cluster.admin.wait_gone("pods", "p1", ns, timeout=TIMEOUT)
    assert not running(pid)


def test_a_pod_deleted_before_its_containers_start_never_runs(cluster, kubelet, ns, tmp_path):
    marks = tmp_path / "marks"
    kubelet.delay = 2  # the pod is bound and waits, as for an image pull
    try:
        cluster.admin.create("pods", python_pod("early", f"open({str(marks)!r}, 'w').write('ran')"), ns)
        uid = cluster.admin.get("pods", "early", ns)["metadata"]["uid"]
        wait_until(lambda: cluster.admin.get("pods", "early", ns)["spec"].get("nodeName"), TIMEOUT, "the pod to be bound")
        cluster.admin.delete("pods", "early", ns)
        cluster.admin.wait_gone("pods", "early", ns, timeout=TIMEOUT)
        # past the delay: a process launched for it would have marked by now
        wait_until(lambda: uid not in kubelet.seen, TIMEOUT, "the kubelet to forget the pod")
        cluster.admin.create("pods", python_pod("later", "pass"), ns)
        wait_status(cluster, ns, "later", has_ended, "a later pod to have run")
    finally:
        kubelet.delay = 0.05
    assert not marks.exists() and uid not in kubelet.processes


def test_files_under_a_claim_outlive_the_pod(cluster, kubelet, ns):
    bound_claim(cluster, ns, "home-a")
    bound_claim(cluster, ns, "home-b")
    cluster.admin.create("pods", python_pod("p1", "open('note.txt', 'w').write('kept')", claim="home-a"), ns)
    assert wait_status(cluster, ns, "p1", has_ended, "the writer to finish")["phase"] == "Succeeded"
    cluster.admin.delete("pods", "p1", ns)
    cluster.admin.wait_gone("pods", "p1", ns, timeout=TIMEOUT)
    read = "print(open('note.txt').read())"
    cluster.admin.create("pods", python_pod("p1", read, claim="home-a"), ns)
    assert wait_status(cluster, ns, "p1", has_ended, "the reader")["phase"] == "Succeeded"
    assert "kept" in kubelet.logs(ns, "p1")
    cluster.admin.create("pods", python_pod("other", read, claim="home-b"), ns)
    assert wait_status(cluster, ns, "other", has_ended, "the other reader")["phase"] == "Failed"


def test_a_process_exiting_with_code_3_fails_the_pod_with_a_warning(cluster, ns):
    cluster.admin.create("pods", python_pod("p1", "raise SystemExit(3)"), ns)
    status = wait_status(cluster, ns, "p1", has_ended, "the pod to end")
    assert status["phase"] == "Failed"
    [container] = status["containerStatuses"]
    assert container["ready"] is False and container["state"]["terminated"]["exitCode"] == 3
    warnings = [e for e in cluster.items("events", ns) if e["type"] == "Warning"]
    assert [e["involvedObject"]["name"] for e in warnings] == ["p1"]
    assert "code 3" in warnings[0]["message"]


def test_stop_kills_every_process_the_kubelet_started(cluster, ns, tmp_path):
    """A kubelet of its own, for one node that the scheduler leaves alone (tainted) and the pod names."""
    pids, node = tmp_path / "pids", f"stop-{uuid.uuid4().hex[:6]}"
    code = f"""
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)  # like a kernel
open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
time.sleep(60)
"""
    pod = python_pod("p1", code)
    pod["spec"]["nodeName"] = node
    own = Kubelet(cluster.plane, [Node(node, taints=[{"key": "workspaces.test/stop", "effect": "NoSchedule"}])],
                  mode="process", data_dir=tmp_path / "kubelet").start()
    try:
        cluster.admin.create("pods", pod, ns)
        started = wait_until(lambda: pids.exists() and pids.read_text(), TIMEOUT, "the pids", interval=0.05)
    finally:
        own.stop()
        cluster.admin.delete("pods", "p1", ns, gracePeriodSeconds=0)  # no kubelet is left to finish its deletion
        cluster.admin.delete("nodes", node)
        cluster.admin.delete("leases", node, "kube-node-lease")
    pid, child = (int(p) for p in started.split())
    assert not running(pid)  # stop() waited for it
    wait_until(lambda: not running(child), 5, "the child to be killed", interval=0.05)


def test_jupyterhub_service_url_points_at_the_pod_ip(cluster, ns):
    port = free_port()
    env = ({"name": "JUPYTERHUB_SERVICE_URL", "value": f"http://0.0.0.0:{port}/user/a/"},)
    cluster.admin.create("pods", server_pod("p1", port, env), ns)
    status = wait_status(cluster, ns, "p1", is_ready, "ready")
    assert ask(status, port)["env"]["JUPYTERHUB_SERVICE_URL"] == f"http://{status['podIP']}:{port}/user/a/"


def test_a_pod_has_a_minimal_environment_under_its_env(cluster, ns):
    port = free_port()
    cluster.admin.create("pods", server_pod("p1", port, ({"name": "GREETING", "value": "hi"},)), ns)
    seen = ask(wait_status(cluster, ns, "p1", is_ready, "ready"), port)
    assert seen["env"]["GREETING"] == "hi"
    assert seen["env"]["HOME"] == seen["cwd"]
    assert seen["env"]["PATH"].split(":")[0] == os.path.dirname(sys.executable)
    assert "PYTEST_CURRENT_TEST" not in seen["env"]  # nothing leaks from the test process


def test_an_env_var_from_a_secret_reaches_the_process(cluster, ns):
    cluster.admin.create("secrets", {"metadata": {"name": "s"}, "stringData": {"k": "from-the-secret"}}, ns)
    port = free_port()
    env = ({"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},)
    cluster.admin.create("pods", server_pod("p1", port, env), ns)
    seen = ask(wait_status(cluster, ns, "p1", is_ready, "ready"), port)
    assert seen["env"]["TOKEN"] == "from-the-secret"


def test_process_command_confines_jupyter_to_the_pod_ip_and_allows_root():
    container = {"command": ["jupyterhub-singleuser"], "args": ["--ip=0.0.0.0", "--port=8888", "--ServerApp.ip", "0.0.0.0"]}
    assert process_command(container, "127.0.0.7", as_root=True) == [
        "jupyterhub-singleuser", "--ip=127.0.0.7", "--port=8888", "--ServerApp.ip", "127.0.0.7", "--allow-root"
    ]
    assert "--allow-root" not in process_command(container, "127.0.0.7", as_root=False)
    already = {"command": ["jupyter", "lab", "--allow-root"]}
    assert process_command(already, "127.0.0.7", as_root=True).count("--allow-root") == 1
    assert process_command({"command": ["python3", "app.py"]}, "127.0.0.7", as_root=True) == ["python3", "app.py"]


def test_failure_scenarios_start_no_process(cluster, kubelet, ns):
    kubelet.scenario = lambda pod: "crash" if pod["metadata"]["namespace"] == ns else "run"
    try:
        uid = cluster.admin.create("pods", python_pod("p1", "import time; time.sleep(60)"), ns)["metadata"]["uid"]
        status = wait_status(cluster, ns, "p1", lambda s: bool(s.get("containerStatuses")), "the crash loop")
    finally:
        kubelet.scenario = lambda pod: "run"
    assert status["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert uid not in kubelet.processes and kubelet.logs(ns, "p1") == ""
