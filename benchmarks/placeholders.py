"""A GPU workspace start on a full GPU node, preempting a placeholder, against plain KubeSpawner's start, on the control plane.

On the tests' real control plane (kube-apiserver, kube-scheduler,
kube-controller-manager; ``make install`` builds it) with its simulated nodes
(gpu-1 has four nvidia.com/gpu), a profile of one GPU:

- ours: the hub's placeholders (``placeholders: 4``, kept by
  spawner.placeholders with the PriorityClasses of
  config/kubernetes/placeholders.yaml) hold every GPU; a start preempts one.
- plain: no placeholders, as plain KubeSpawner (and zero-to-jupyterhub
  without ``scheduling.userPlaceholder``) runs. On the full node it cannot
  start at all until a node is added (``plain_full``: the start fails as
  unschedulable here, where no autoscaler adds one; on a cloud it waits for a
  scale-up, minutes). ``plain_full`` is that start with every GPU held by a
  pod of the default priority (other work), with a 3 s unschedulable grace.
  So plain's figure is its best case: the same start with one GPU free (three
  placeholders on the node, which it does not touch), which ours must match.

Each start is ``spawner.start()`` until the server's pod is Running, then the
workspace is stopped; rounds alternate ours/plain. The machine may be loaded
by other work: the figures are for comparison within one run.

The last line is::

    RESULT placeholders n=<N> ours_full_median_s=<a> plain_free_median_s=<b> ratio=<a/b> plain_full=<unschedulable|started>

Run: ``.venv/bin/python benchmarks/placeholders.py --n 5``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spawner.base import WorkspaceSpawnFailed  # noqa: E402
from tests.k8s.conftest import RESTRICTED  # noqa: E402
from tests.k8s.kube import hardened_pod, make_spawner, write_config  # noqa: E402
from tests.k8s.placeholders import GPU_ONE, PRIORITY_CLASSES, placeholders, sync  # noqa: E402
from tests.support.cluster import wait_until  # noqa: E402
from tests.support.cluster_fixture import GPUS, Cluster  # noqa: E402

SPEC = {"image": "cuda", "profile": "gpu-one"}


async def timed_start(config: Path, cluster: Cluster, **traits: object) -> float | None:
    """Seconds from start() to a Running server, the workspace stopped after; None if the start failed."""
    from spawner.kubernetes import KubeWorkspaceSpawner

    s = make_spawner(config, cluster, user="bench", **traits)
    s.apply_spec(SPEC)
    began = time.perf_counter()
    try:
        await s.start()
        took: float | None = time.perf_counter() - began
    except WorkspaceSpawnFailed:
        took = None
    await s.stop(now=True)
    await KubeWorkspaceSpawner._stop_all_reflectors()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5, help="starts per side (default 5)")
    args = parser.parse_args()
    ours: list[float] = []
    plain: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["KUBECONFIG"] = str(root / "kubeconfig")
        print("starting the control plane with simulated nodes", flush=True)
        (root / "cluster").mkdir()
        cluster = Cluster(root / "cluster").start()
        try:
            for c in PRIORITY_CLASSES:
                cluster.admin.apply("priorityclasses", c)
            hub_ns, ws_ns = cluster.namespace("hub", RESTRICTED), cluster.namespace("ws", RESTRICTED)
            placeholder = {"enabled": True, "namespace": hub_ns}

            def config(name: str, count: int, enabled: bool = True) -> Path:
                return write_config(root / name, profiles=({**GPU_ONE, "placeholders": count},), namespace=ws_ns,
                                    placeholders={**placeholder, "enabled": enabled})

            full, one_free, plain_config = config("full", GPUS), config("one-free", GPUS - 1), config("plain", 0, False)

            def held(count: int) -> None:
                def ready() -> bool:
                    pods = placeholders(cluster, hub_ns)
                    running = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
                    return len(pods) == len(running) == count and cluster.gpus_free() == GPUS - count

                wait_until(ready, 60, f"{count} placeholders running and the rest of the GPUs free")

            # plain, the node full of other work (a pod of the default priority holding every GPU)
            job = hardened_pod("job", "example.org/train:1", tolerations=GPU_ONE["tolerations"],
                               nodeSelector=GPU_ONE["node_selector"])
            job["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": str(GPUS)}}
            cluster.admin.create("pods", job, ws_ns)
            wait_until(lambda: cluster.gpus_free() == 0, 60, "the job holding every GPU")
            full_plain = asyncio.run(timed_start(plain_config, cluster, unschedulable_grace=3))
            plain_full = "started" if full_plain is not None else "unschedulable"
            print(f"plain, every GPU in use: {plain_full}", flush=True)
            cluster.admin.delete("pods", "job", ws_ns)
            cluster.admin.wait_gone("pods", "job", ws_ns)
            for i in range(args.n):
                sync(cluster, hub_ns, full)
                held(GPUS)
                took = asyncio.run(timed_start(full, cluster))
                assert took is not None, "our start failed"
                ours.append(took)
                sync(cluster, hub_ns, one_free)
                held(GPUS - 1)
                took = asyncio.run(timed_start(plain_config, cluster))
                assert took is not None, "the plain start failed"
                plain.append(took)
                print(f"round {i + 1}: ours (preempting) {ours[-1]:.2f}s, plain (a free GPU) {plain[-1]:.2f}s", flush=True)
        finally:
            cluster.stop()
    a, b = statistics.median(ours), statistics.median(plain)
    print(f"RESULT placeholders n={args.n} ours_full_median_s={a:.3f} plain_free_median_s={b:.3f} ratio={a / b:.3f}"
          f" plain_full={plain_full}")


if __name__ == "__main__":
    main()
