"""From a catalog edit to the pre-pull DaemonSet naming the new image: ours against zero-to-jupyterhub's, on the control plane.

Both run in one go on the tests' real control plane (kube-apiserver,
kube-scheduler, kube-controller-manager with its DaemonSet controller; ``make
install`` builds it) with its simulated nodes (cpu-1, cpu-2, gpu-1):

- ours: a hub with the kubernetes backend and ``kubernetes.prepull.enabled``
  at its defaults (the catalog is checked every 0.5 s), as its ServiceAccount.
  An edit is an admin's ``POST /images`` to the workspaces API, timed from
  sending the request.
- peer: zero-to-jupyterhub's ``continuous-image-puller``, whose images come
  from the chart's values only (``prePuller.extraImages``): an image is added
  by editing the values and running ``helm upgrade``. A chart of that one
  DaemonSet, as z2jh 4.x renders it (init containers ``image-pull-<name>``
  running ``echo Pulling complete``, a pause container, maxUnavailable 100%),
  is installed once; each edit is a real ``helm upgrade`` (node_modules/.bin/helm)
  of that release with one more image, timed from starting Helm. The time it
  takes a person to edit the values and run Helm is not counted: the peer's
  figure is its best case.

For each edit: ``named_s``, until a DaemonSet names the new image (the API
server's view, polled every 20 ms), and ``scheduled_s``, until every
pre-pull DaemonSet has a pod of its new template scheduled on each of its
nodes (``updatedNumberScheduled`` = ``desiredNumberScheduled``). Edits
alternate ours/peer. The machine may be loaded by other work: the figures
are for comparison within one run.

The last line is::

    RESULT prepull n=<N> ours_named_median_s=<a> plain_named_median_s=<b> ratio=<a/b> ours_scheduled_median_s=<c> plain_scheduled_median_s=<d>

Run: ``.venv/bin/python benchmarks/prepull.py --n 10``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helm.chart import helm  # noqa: E402
from tests.support.cluster_fixture import Cluster  # noqa: E402
from tests.support.prepull import prepull_hub, pulled, rolled_out  # noqa: E402

POLL_S = 0.02
TIMEOUT_S = 120
PEER_NS = "z2jh-prepull"
PEER_LABELS = {"component": "continuous-image-puller"}
# zero-to-jupyterhub 4.x, templates/image-puller/_helpers-daemonset.tpl, reduced to what the comparison needs
PEER_TEMPLATE = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: continuous-image-puller
  labels: {component: continuous-image-puller}
spec:
  selector:
    matchLabels: {component: continuous-image-puller}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 100%}
  template:
    metadata:
      labels: {component: continuous-image-puller}
    spec:
      tolerations:
        - {key: hub.jupyter.org/dedicated, operator: Equal, value: user, effect: NoSchedule}
      terminationGracePeriodSeconds: 0
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 65534, seccompProfile: {type: RuntimeDefault}}
      initContainers:
      {{- range $k, $v := .Values.prePuller.extraImages }}
        - name: image-pull-{{ $k }}
          image: {{ $v.name }}:{{ $v.tag }}
          command: ["/bin/sh", "-c", "echo Pulling complete"]
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
      {{- end }}
      containers:
        - name: pause
          image: registry.k8s.io/pause:3.10
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
"""


def until(condition: Callable[[], bool], what: str) -> float:
    """Seconds until ``condition`` holds, polled every POLL_S, from now."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > TIMEOUT_S:
            raise TimeoutError(f"{what}: not within {TIMEOUT_S}s")
        time.sleep(POLL_S)
    return time.monotonic() - start


class Peer:
    """The z2jh image puller as a Helm release whose values list the images."""

    def __init__(self, cluster: Cluster, root: Path, images: list[str]):
        self.cluster = cluster
        self.kubeconfig = cluster.plane.kubeconfig_path
        self.chart = root / "z2jh-image-puller"
        (self.chart / "templates").mkdir(parents=True)
        (self.chart / "Chart.yaml").write_text("apiVersion: v2\nname: z2jh-image-puller\nversion: 0.1.0\n")
        (self.chart / "templates" / "daemonset.yaml").write_text(PEER_TEMPLATE)
        self.values = root / "values.yaml"
        self.images = list(images)
        cluster.admin.namespace(PEER_NS)
        self.upgrade()
        until(self.rolled_out, "the peer's first rollout")

    def upgrade(self) -> None:
        extra = {f"i{n}": dict(zip(("name", "tag"), image.rsplit(":", 1))) for n, image in enumerate(self.images)}
        self.values.write_text(yaml.safe_dump({"prePuller": {"extraImages": extra}}))
        done = helm("upgrade", "--install", "z2jh", str(self.chart), "--namespace", PEER_NS, "-f", str(self.values),
                    kubeconfig=self.kubeconfig)
        if done.returncode != 0:
            raise RuntimeError(f"helm upgrade failed: {done.stderr}")

    def daemon_set(self) -> dict | None:
        return self.cluster.admin.find("daemonsets", "continuous-image-puller", PEER_NS)

    def names(self, image: str) -> bool:
        d = self.daemon_set()
        return bool(d) and image in [c["image"] for c in d["spec"]["template"]["spec"].get("initContainers", [])]

    def rolled_out(self) -> bool:
        d = self.daemon_set()
        s = (d or {}).get("status", {})
        return bool(d) and s.get("observedGeneration") == d["metadata"]["generation"] \
            and s.get("updatedNumberScheduled", 0) == s.get("desiredNumberScheduled", -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="catalog edits per side (default 10)")
    args = parser.parse_args()
    if not 1 <= args.n <= 1000:
        parser.error("--n must be between 1 and 1000")

    ours: dict[str, list[float]] = {"named": [], "scheduled": []}
    peer_times: dict[str, list[float]] = {"named": [], "scheduled": []}
    with tempfile.TemporaryDirectory(prefix="bench-prepull-") as tmp:
        root = Path(tmp)
        print("starting the control plane with simulated nodes", flush=True)
        (root / "cluster").mkdir()
        cluster = Cluster(root / "cluster").start()
        hub = None
        try:
            hub = prepull_hub(cluster, root / "ours")
            print("starting a hub with the kubernetes backend and the pre-puller on", flush=True)
            hub.start(timeout=180)
            until(lambda: bool(pulled(cluster)) and rolled_out(cluster), "our first rollout")
            peer = Peer(cluster, root, sorted(pulled(cluster)))
            for i in range(args.n):
                image = f"example.org/bench-{i}:1"
                start = time.monotonic()
                r = hub.ws("POST", "/images", json={"id": f"bench-{i}", "display_name": f"Bench {i}", "image": image})
                if r.status_code != 201:
                    raise RuntimeError(f"POST /images: {r.status_code} {r.text}")
                until(lambda: image in pulled(cluster), "our DaemonSet naming the image")
                ours["named"].append(time.monotonic() - start)
                until(lambda: rolled_out(cluster), "our pods scheduled")
                ours["scheduled"].append(time.monotonic() - start)

                start = time.monotonic()
                peer.images.append(image)
                peer.upgrade()
                until(lambda: peer.names(image), "the peer's DaemonSet naming the image")
                peer_times["named"].append(time.monotonic() - start)
                until(peer.rolled_out, "the peer's pods scheduled")
                peer_times["scheduled"].append(time.monotonic() - start)
                print(f"edit {i + 1}: ours named {ours['named'][-1]:.2f}s scheduled {ours['scheduled'][-1]:.2f}s;"
                      f" peer (helm upgrade) named {peer_times['named'][-1]:.2f}s scheduled {peer_times['scheduled'][-1]:.2f}s",
                      flush=True)
        finally:
            if hub is not None:
                hub.shutdown()
            cluster.stop()

    a, b = statistics.median(ours["named"]), statistics.median(peer_times["named"])
    c, d = statistics.median(ours["scheduled"]), statistics.median(peer_times["scheduled"])
    print(f"RESULT prepull n={args.n} ours_named_median_s={a:.3f} plain_named_median_s={b:.3f} ratio={a / b:.3f}"
          f" ours_scheduled_median_s={c:.3f} plain_scheduled_median_s={d:.3f}")


if __name__ == "__main__":
    main()
