"""The Kubernetes API stand-in answers like a real API server, so backend tests can trust it."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ..support.hub import wait_for
from ..support.k8s_apiserver import ApiServer, ApiServerThread, process_command

POD = {"metadata": {"name": "p1", "labels": {"app": "ws", "tier": "a"}}, "spec": {"containers": [{"name": "notebook", "image": "x"}]}}


@pytest.fixture
def api() -> Iterator[ApiServer]:
    with ApiServerThread(history=50) as server:
        yield server


def url(api: ApiServer, path: str) -> str:
    return api.url + path


def create(api: ApiServer, path: str, body: dict) -> requests.Response:
    return requests.post(url(api, path), json=body, timeout=10)


def watch(api: ApiServer, path: str, **params: str) -> list[dict]:
    r = requests.get(url(api, path), params={"watch": "True", **params}, timeout=20)
    return [json.loads(line) for line in r.text.splitlines() if line]


def test_discovery_names_core_rbac_and_kubeflow_resources(api):
    core = requests.get(url(api, "/api/v1"), timeout=10).json()
    assert core["groupVersion"] == "v1"
    assert {"pods", "persistentvolumeclaims", "events", "namespaces"} <= {r["name"] for r in core["resources"]}
    groups = {g["name"]: g for g in requests.get(url(api, "/apis"), timeout=10).json()["groups"]}
    assert [v["version"] for v in groups["kubeflow.org"]["versions"]] == ["v1", "v1alpha1"]
    assert "rbac.authorization.k8s.io" in groups
    kf = requests.get(url(api, "/apis/kubeflow.org/v1"), timeout=10).json()
    assert kf["resources"][0]["name"] == "profiles" and kf["resources"][0]["namespaced"] is False


def test_create_stamps_metadata_and_a_second_create_is_409(api):
    r = create(api, "/api/v1/namespaces/ns1/pods", POD)
    assert r.status_code == 201
    meta = r.json()["metadata"]
    assert meta["namespace"] == "ns1" and meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"]
    assert r.json()["status"] == {"phase": "Pending"}
    again = create(api, "/api/v1/namespaces/ns1/pods", POD)
    assert again.status_code == 409
    assert (again.json()["kind"], again.json()["reason"]) == ("Status", "AlreadyExists")


def test_get_of_a_missing_object_is_a_404_status(api):
    r = requests.get(url(api, "/api/v1/namespaces/ns1/pods/nope"), timeout=10)
    assert r.status_code == 404
    assert r.json()["reason"] == "NotFound" and r.json()["details"]["name"] == "nope"


def test_list_filters_by_label_and_field_selectors(api):
    for name, labels in (("a", {"app": "ws", "tier": "x"}), ("b", {"app": "ws"}), ("c", {"app": "other"})):
        create(api, "/api/v1/namespaces/ns1/pods", {"metadata": {"name": name, "labels": labels}})
    create(api, "/api/v1/namespaces/ns2/pods", {"metadata": {"name": "d", "labels": {"app": "ws"}}})

    def names(path: str, **params: str) -> list[str]:
        return [o["metadata"]["name"] for o in requests.get(url(api, path), params=params, timeout=10).json()["items"]]

    assert names("/api/v1/namespaces/ns1/pods", labelSelector="app=ws") == ["a", "b"]
    assert names("/api/v1/namespaces/ns1/pods", labelSelector="app!=ws") == ["c"]
    assert names("/api/v1/namespaces/ns1/pods", labelSelector="tier") == ["a"]
    assert names("/api/v1/namespaces/ns1/pods", labelSelector="!tier,app") == ["b", "c"]
    assert names("/api/v1/namespaces/ns1/pods", labelSelector="app in (other,nothing)") == ["c"]
    assert names("/api/v1/pods", labelSelector="app=ws") == ["a", "b", "d"]  # every namespace
    assert names("/api/v1/pods", fieldSelector="metadata.name=d") == ["d"]
    assert names("/api/v1/namespaces/ns1/pods", fieldSelector="status.phase!=Running") == ["a", "b", "c"]


def test_merge_and_json_patches_also_on_status(api):
    create(api, "/api/v1/namespaces/ns1/pods", POD)
    before = requests.get(url(api, "/api/v1/namespaces/ns1/pods/p1"), timeout=10).json()["metadata"]["resourceVersion"]
    r = requests.patch(
        url(api, "/api/v1/namespaces/ns1/pods/p1/status"),
        data=json.dumps({"status": {"phase": "Running"}}),
        headers={"Content-Type": "application/merge-patch+json"},
        timeout=10,
    )
    assert r.json()["status"]["phase"] == "Running"
    assert int(r.json()["metadata"]["resourceVersion"]) > int(before)
    r = requests.patch(
        url(api, "/api/v1/namespaces/ns1/pods/p1"),
        data=json.dumps([{"op": "remove", "path": "/metadata/labels/tier"}]),
        headers={"Content-Type": "application/json-patch+json"},
        timeout=10,
    )
    assert r.json()["metadata"]["labels"] == {"app": "ws"}


def test_delete_returns_the_object_then_404(api):
    create(api, "/api/v1/namespaces/ns1/persistentvolumeclaims", {"metadata": {"name": "data"}})
    r = requests.delete(url(api, "/api/v1/namespaces/ns1/persistentvolumeclaims/data"), timeout=10)
    assert r.status_code == 200 and r.json()["metadata"]["name"] == "data"
    assert requests.delete(url(api, "/api/v1/namespaces/ns1/persistentvolumeclaims/data"), timeout=10).status_code == 404


def test_watch_from_a_resource_version_sees_later_changes_and_ends_on_timeout(api):
    api.kubelet.delay = 3600  # keep the pod still
    rv = create(api, "/api/v1/namespaces/ns1/pods", POD).json()["metadata"]["resourceVersion"]
    requests.delete(url(api, "/api/v1/namespaces/ns1/pods/p1"), timeout=10)
    started = time.monotonic()
    events = watch(api, "/api/v1/namespaces/ns1/pods", resourceVersion=rv, timeoutSeconds="1")
    assert [e["type"] for e in events] == ["DELETED"]
    assert 0.9 < time.monotonic() - started < 5


def test_watch_from_zero_starts_with_the_current_objects(api):
    api.kubelet.delay = 3600
    create(api, "/api/v1/namespaces/ns1/pods", POD)
    events = watch(api, "/api/v1/namespaces/ns1/pods", resourceVersion="0", timeoutSeconds="1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "p1")]


def test_watch_from_a_forgotten_resource_version_is_410_gone(api):
    for i in range(60):  # history keeps 50
        create(api, "/api/v1/namespaces/ns1/configmaps", {"metadata": {"name": f"c{i}"}})
    [event] = watch(api, "/api/v1/namespaces/ns1/configmaps", resourceVersion="2", timeoutSeconds="1")
    assert event["type"] == "ERROR" and event["object"]["code"] == 410


def test_kubeflow_and_rbac_objects(api):
    profile = {"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": "team-a"}, "spec": {"owner": {"kind": "User", "name": "alice@example.com"}}}
    assert create(api, "/apis/kubeflow.org/v1/profiles", profile).status_code == 201
    got = requests.get(url(api, "/apis/kubeflow.org/v1/profiles/team-a"), timeout=10).json()
    assert got["spec"]["owner"]["name"] == "alice@example.com" and "namespace" not in got["metadata"]
    binding = {"metadata": {"name": "user-bob", "annotations": {"user": "bob@example.com", "role": "edit"}}, "roleRef": {"kind": "ClusterRole", "name": "kubeflow-edit"}}
    assert create(api, "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings", binding).status_code == 201
    assert create(api, "/apis/kubeflow.org/v1alpha1/namespaces/team-a/poddefaults", {"metadata": {"name": "gcp"}}).status_code == 201
    items = requests.get(url(api, "/apis/kubeflow.org/v1alpha1/namespaces/team-a/poddefaults"), timeout=10).json()["items"]
    assert [i["metadata"]["name"] for i in items] == ["gcp"]


def test_requests_are_logged(api):
    requests.get(url(api, "/api/v1/namespaces/ns1/pods"), params={"labelSelector": "app=ws"}, timeout=10)
    assert ("GET", "/api/v1/namespaces/ns1/pods", "labelSelector=app%3Dws") in api.store.requests


def test_injected_faults_fail_then_pass(api):
    api.fault("POST", r"/pods$", status=500, times=2)
    assert create(api, "/api/v1/namespaces/ns1/pods", POD).status_code == 500
    assert create(api, "/api/v1/namespaces/ns1/pods", POD).status_code == 500
    assert create(api, "/api/v1/namespaces/ns1/pods", POD).status_code == 201


def test_injected_delays_slow_a_request(api):
    api.fault("GET", r"/pods/p1$", status=0, delay=0.5)
    create(api, "/api/v1/namespaces/ns1/pods", POD)
    started = time.monotonic()
    assert requests.get(url(api, "/api/v1/namespaces/ns1/pods/p1"), timeout=10).status_code == 200
    assert time.monotonic() - started >= 0.5


def pod_status(api: ApiServer) -> dict:
    return requests.get(url(api, "/api/v1/namespaces/ns1/pods/p1"), timeout=10).json()["status"]


def events(api: ApiServer) -> list[str]:
    return [e["reason"] for e in requests.get(url(api, "/api/v1/namespaces/ns1/events"), timeout=10).json()["items"]]


def test_the_kubelet_makes_a_pod_running_and_ready(api):
    create(api, "/api/v1/namespaces/ns1/pods", POD)
    status = wait_for(lambda: pod_status(api) if pod_status(api)["phase"] == "Running" else None, 5, "Running")
    assert status["podIP"] == "127.0.0.1"
    assert status["containerStatuses"][0]["ready"] is True
    assert sorted(events(api)) == ["Scheduled", "Started"]


@pytest.mark.parametrize(
    "fate, reason",
    [("unschedulable", "FailedScheduling"), ("image-pull", "Failed"), ("crash", "BackOff")],
)
def test_the_kubelet_fails_pods_the_ways_real_pods_fail(api, fate, reason):
    api.kubelet.scenario = lambda pod: fate
    create(api, "/api/v1/namespaces/ns1/pods", POD)
    wait_for(lambda: reason in events(api), 5, reason)
    status = pod_status(api)
    if fate == "unschedulable":
        assert status["conditions"][0]["reason"] == "Unschedulable"
        assert "Insufficient nvidia.com/gpu" in status["conditions"][0]["message"]
    else:
        waiting = status["containerStatuses"][0]["state"]["waiting"]["reason"]
        assert waiting == {"image-pull": "ImagePullBackOff", "crash": "CrashLoopBackOff"}[fate]


# process mode: the pod's first container runs as a local process on its own loopback IP

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


@pytest.fixture
def papi(tmp_path: Path) -> Iterator[ApiServer]:
    with ApiServerThread(kubelet="process", data_dir=tmp_path / "k8s") as server:
        yield server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_pod(name: str, command: list[str], args: list[str] = (), env: list[dict] = (), port: int = 8888, claim: str = "") -> dict:
    container = {"name": "notebook", "image": "x", "command": command, "args": list(args), "env": list(env), "ports": [{"containerPort": port}]}
    spec: dict = {"containers": [container]}
    if claim:  # mounted the way KubeSpawner mounts the home volume
        spec["volumes"] = [{"name": "home", "persistentVolumeClaim": {"claimName": claim}}]
        container["volumeMounts"] = [{"name": "home", "mountPath": "/home/jovyan"}]
    return {"metadata": {"name": name}, "spec": spec}


def server_pod(name: str, port: int, env: list[dict] = ()) -> dict:
    """A small HTTP server that binds to --ip and --port, as jupyterhub-singleuser does."""
    return process_pod(name, [sys.executable, "-c", SERVER], ["--ip=0.0.0.0", f"--port={port}"], env, port)


def python_pod(name: str, code: str, claim: str = "") -> dict:
    return process_pod(name, [sys.executable, "-c", code], claim=claim)


def wait_status(api: ApiServer, name: str, test, what: str) -> dict:
    def check() -> dict | None:
        status = requests.get(url(api, f"/api/v1/namespaces/ns1/pods/{name}"), timeout=10).json()["status"]
        return status if test(status) else None

    return wait_for(check, 10, what, interval=0.05)


def is_ready(status: dict) -> bool:
    return bool(status.get("containerStatuses")) and all(c["ready"] for c in status["containerStatuses"])


def ask(status: dict, port: int) -> dict:
    """What the server in the pod says about itself."""
    return requests.get(f"http://{status['podIP']}:{port}/", timeout=5).json()


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_process_kubelet_runs_each_pod_on_its_own_loopback_ip(papi):
    port = free_port()
    create(papi, "/api/v1/namespaces/ns1/pods", server_pod("a", port))
    create(papi, "/api/v1/namespaces/ns1/pods", server_pod("b", port))
    a = wait_status(papi, "a", is_ready, "a ready")
    b = wait_status(papi, "b", is_ready, "b ready")
    assert a["podIP"] != b["podIP"]
    assert {a["podIP"], b["podIP"]} <= {f"127.0.0.{n}" for n in range(2, 255)}
    assert ask(a, port)["pid"] != ask(b, port)["pid"]
    with pytest.raises(ConnectionRefusedError):  # bound to the pod IP, not to every address
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_process_kubelet_marks_a_pod_ready_only_once_its_port_accepts_connections(papi, tmp_path):
    port, gate = free_port(), tmp_path / "gate"
    create(papi, "/api/v1/namespaces/ns1/pods", server_pod("p1", port, [{"name": "GATE", "value": str(gate)}]))
    status = wait_status(papi, "p1", lambda s: s["phase"] == "Running", "Running")
    assert status["containerStatuses"][0]["ready"] is False and "running" in status["containerStatuses"][0]["state"]
    assert status["conditions"] == [{"type": "Ready", "status": "False"}]
    gate.touch()  # now the server binds its port
    status = wait_status(papi, "p1", is_ready, "ready")
    assert status["conditions"] == [{"type": "Ready", "status": "True"}]
    assert ask(status, port)["cwd"]


def test_deleting_a_process_pod_terminates_its_process(papi):
    port = free_port()
    create(papi, "/api/v1/namespaces/ns1/pods", server_pod("p1", port))
    pid = ask(wait_status(papi, "p1", is_ready, "ready"), port)["pid"]
    assert running(pid)
    requests.delete(url(papi, "/api/v1/namespaces/ns1/pods/p1"), timeout=10)
    wait_for(lambda: not running(pid), 5, "the process to end", interval=0.05)


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(papi, tmp_path):
    marks = tmp_path / "marks"
    code = f"""
import os, signal, time
signal.signal(signal.SIGTERM, lambda *_: open({str(marks)!r}, "a").write("TERM "))
open({str(marks)!r}, "a").write(f"{{os.getpid()}} ")
while True:
    time.sleep(0.01)
"""
    create(papi, "/api/v1/namespaces/ns1/pods", python_pod("p1", code))
    pid = int(wait_for(lambda: marks.exists() and marks.read_text(), 10, "the pid", interval=0.05).split()[0])
    requests.delete(url(papi, "/api/v1/namespaces/ns1/pods/p1"), params={"gracePeriodSeconds": "0"}, timeout=10)  # 0: at least 1 s
    wait_for(lambda: not running(pid), 5, "the process to be killed", interval=0.05)
    assert marks.read_text().split()[1:] == ["TERM"]


def test_files_written_under_a_claim_outlive_the_pod(papi):
    create(papi, "/api/v1/namespaces/ns1/pods", python_pod("p1", "open('note.txt', 'w').write('kept')", claim="home-a"))
    wait_status(papi, "p1", lambda s: s["phase"] == "Succeeded", "the writer to finish")
    requests.delete(url(papi, "/api/v1/namespaces/ns1/pods/p1"), timeout=10)
    read = "print(open('note.txt').read())"
    create(papi, "/api/v1/namespaces/ns1/pods", python_pod("p1", read, claim="home-a"))
    assert wait_status(papi, "p1", lambda s: s["phase"] in ("Succeeded", "Failed"), "the reader")["phase"] == "Succeeded"
    assert "kept" in papi.kubelet.logs("ns1", "p1")
    create(papi, "/api/v1/namespaces/ns1/pods", python_pod("other", read, claim="home-b"))
    assert wait_status(papi, "other", lambda s: s["phase"] in ("Succeeded", "Failed"), "the other reader")["phase"] == "Failed"


def test_a_process_exiting_with_code_3_fails_the_pod_with_a_warning(papi):
    create(papi, "/api/v1/namespaces/ns1/pods", python_pod("p1", "raise SystemExit(3)"))
    status = wait_status(papi, "p1", lambda s: s["phase"] not in ("Pending", "Running"), "the pod to end")
    assert status["phase"] == "Failed"
    [container] = status["containerStatuses"]
    assert container["ready"] is False and container["state"]["terminated"]["exitCode"] == 3
    warnings = [e for e in requests.get(url(papi, "/api/v1/namespaces/ns1/events"), timeout=10).json()["items"] if e["type"] == "Warning"]
    assert [(e["involvedObject"]["name"], e["reason"]) for e in warnings] == [("p1", "Failed")]
    assert "code 3" in warnings[0]["message"]


def test_stop_kills_every_process_the_kubelet_started(tmp_path):
    pids = tmp_path / "pids"
    code = f"""
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)  # like a kernel
open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
time.sleep(60)
"""
    with ApiServerThread(kubelet="process", data_dir=tmp_path / "k8s") as api:
        create(api, "/api/v1/namespaces/ns1/pods", python_pod("p1", code))
        started = wait_for(lambda: pids.exists() and pids.read_text(), 10, "the pids", interval=0.05)
    pid, child = (int(p) for p in started.split())
    assert not running(pid)  # stop() waited for it
    wait_for(lambda: not running(child), 5, "the child to be killed", interval=0.05)


def test_jupyterhub_service_url_points_at_the_pod_ip(papi):
    port = free_port()
    env = [{"name": "JUPYTERHUB_SERVICE_URL", "value": f"http://0.0.0.0:{port}/user/a/"}]
    create(papi, "/api/v1/namespaces/ns1/pods", server_pod("p1", port, env))
    status = wait_status(papi, "p1", is_ready, "ready")
    assert ask(status, port)["env"]["JUPYTERHUB_SERVICE_URL"] == f"http://{status['podIP']}:{port}/user/a/"


def test_a_process_pod_has_a_minimal_environment_under_the_pod_env(papi):
    port = free_port()
    env = [{"name": "GREETING", "value": "hi"}, {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    create(papi, "/api/v1/namespaces/ns1/pods", server_pod("p1", port, env))
    seen = ask(wait_status(papi, "p1", is_ready, "ready"), port)
    assert seen["env"]["GREETING"] == "hi" and "TOKEN" not in seen["env"]
    assert seen["env"]["HOME"] == seen["cwd"]
    assert seen["env"]["PATH"].split(":")[0] == os.path.dirname(sys.executable)
    assert "PYTEST_CURRENT_TEST" not in seen["env"]  # nothing leaks from the test process


def test_process_mode_confines_jupyter_to_the_pod_ip_and_allows_root():
    container = {"command": ["jupyterhub-singleuser"], "args": ["--ip=0.0.0.0", "--port=8888", "--ServerApp.ip", "0.0.0.0"]}
    assert process_command(container, "127.0.0.7", as_root=True) == [
        "jupyterhub-singleuser", "--ip=127.0.0.7", "--port=8888", "--ServerApp.ip", "127.0.0.7", "--allow-root"
    ]
    assert "--allow-root" not in process_command(container, "127.0.0.7", as_root=False)
    already = {"command": ["jupyter", "lab", "--allow-root"]}
    assert process_command(already, "127.0.0.7", as_root=True).count("--allow-root") == 1
    assert process_command({"command": ["python3", "app.py"]}, "127.0.0.7", as_root=True) == ["python3", "app.py"]


def test_failure_scenarios_start_no_process_in_process_mode(papi):
    papi.kubelet.scenario = lambda pod: "crash"
    create(papi, "/api/v1/namespaces/ns1/pods", python_pod("p1", "import time; time.sleep(60)"))
    wait_for(lambda: "BackOff" in events(papi), 5, "BackOff")
    assert papi.kubelet.processes == {}
    assert pod_status(papi)["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
