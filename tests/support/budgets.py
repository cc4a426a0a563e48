"""A hub with budgets: eight fake GPUs, a quick-starting GPU-capable image, and quotas.

Budgets (``quotas:``): everyone may hold 1 GPU and 2 running workspaces; the
group ``gpu-team`` raises GPUs to 2; the user ``solo`` may run 1 workspace.
The machine has more GPUs than any budget, so a refusal comes from the budget,
not from a GPU being busy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .fake_nvidia_smi import write_fake_nvidia_smi
from .hub import DATA, Hub
from .stub_server import LOCAL_RUNTIME

QUOTAS = {
    "default": {"gpus": 1, "workspaces": 2},
    "groups": {"gpu-team": {"gpus": 2}},
    "users": {"solo": {"workspaces": 1}},
}
GPU = {"image": "stub-gpu", "profile": "gpu-1"}  # one GPU, starts in a blink
CPU = {"image": "stub-gpu", "profile": "small"}


def budget_hub(root: Path) -> Hub:
    catalog = yaml.safe_load((DATA / "catalog.yaml").read_text())
    catalog["images"].append({
        "id": "stub-gpu", "display_name": "Stub GPU", "image": "example.org/stub-gpu:1", "gpu": True,
        "local": LOCAL_RUNTIME,
    })
    (root / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    fake = write_fake_nvidia_smi(root, 8)
    settings: dict[str, Any] = {"local": {"gpus": "auto", "nvidia_smi": str(fake)}, "quotas": QUOTAS}
    return Hub(root / "hub", catalog=root / "catalog.yaml", settings=settings)


def running_budget_hub(root: Path) -> Iterator[Hub]:
    """The budget hub, started, and shut down when the generator closes: a module fixture's body."""
    hub = budget_hub(root)
    try:
        yield hub.start()
    finally:
        hub.shutdown()


def server_names(hub: Hub, user: str) -> list[str]:
    servers = hub.api("GET", f"/users/{user}", params={"include_stopped_servers": "1"}).json()["servers"]
    return sorted(n for n in servers if n)
