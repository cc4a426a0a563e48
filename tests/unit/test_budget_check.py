"""The spawner's budget check on given hub records: what it counts, and storage on Kubernetes.

The check reads the user's spawners as the hub process holds them; here they are
plain records, so each counting rule is one case. End to end (a real hub, the
API, the CLI, the hub's form) is in tests/integration/ and tests/security/test_budgets.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from spawner.base import WorkspaceSpawnerMixin, WorkspaceSpawnFailed
from workspaces.catalog import Catalog, ImageEntry, Profile
from workspaces.config import LoadedConfig, WorkspacesConfig

CATALOG = Catalog(
    images=(ImageEntry(id="lab", display_name="Lab", image="x"),),
    profiles=(Profile(id="small", display_name="S"), Profile(id="gpu-1", display_name="G", gpu={"count": 1})),
)
GPU = {"image": "lab", "profile": "gpu-1"}


class Probe(WorkspaceSpawnerMixin):
    """The mixin with the hub's objects given, not looked up."""

    _log_name = "ada/probe"

    def __init__(self, config: dict[str, Any], user: Any, name: str):
        super().__init__()
        self._settings = LoadedConfig(None, WorkspacesConfig.model_validate(config))
        self.user = user
        self.name = name
        self.orm_spawner = None

    @property
    def workspaces_settings(self) -> LoadedConfig:
        return self._settings

    @property
    def catalog(self) -> Catalog:
        return CATALOG


def other(options: dict[str, Any], *, ready: bool = False, pending: str | None = None, checked: bool = False) -> Any:
    return SimpleNamespace(user_options=options, active=ready or pending is not None, ready=ready,
                           pending=pending, budget_checked=checked)


def probe(config: dict[str, Any], records: dict[str, dict], spawners: dict[str, Any]) -> Probe:
    orm = SimpleNamespace(orm_spawners={n: SimpleNamespace(user_options=o) for n, o in records.items()})
    user = SimpleNamespace(name="ada", orm_user=orm, spawners=spawners, groups=[])
    return Probe(config, user, "new")


ONE_GPU = {"quotas": {"default": {"gpus": 1}}}


def test_a_running_workspace_counts():
    p = probe(ONE_GPU, {"a": GPU, "new": GPU}, {"a": other(GPU, ready=True)})
    with pytest.raises(WorkspaceSpawnFailed) as refused:
        p.check_budget(GPU)
    assert refused.value.status_code == 403
    assert refused.value.jupyterhub_message == "GPU budget (default): 1 of 1 GPU in use, 1 more asked"


def test_a_start_that_passed_its_check_counts():
    p = probe(ONE_GPU, {"a": GPU}, {"a": other(GPU, pending="spawn", checked=True)})
    with pytest.raises(WorkspaceSpawnFailed):
        p.check_budget(GPU)


def test_a_start_before_its_own_check_does_not_count_yet():
    # it will count this one when its check comes: only one of the two goes through
    p = probe(ONE_GPU, {"a": GPU}, {"a": other(GPU, pending="spawn", checked=False)})
    p.check_budget(GPU)
    assert p.budget_checked


def test_a_stopping_workspace_still_counts():
    p = probe(ONE_GPU, {"a": GPU}, {"a": other(GPU, pending="stop")})
    with pytest.raises(WorkspaceSpawnFailed):
        p.check_budget(GPU)


def test_a_stopped_workspace_holds_no_gpu():
    p = probe(ONE_GPU, {"a": GPU}, {})
    p.check_budget(GPU)


def test_on_kubernetes_stopped_workspaces_hold_their_storage():
    config = {"backend": "kubernetes", "quotas": {"default": {"storage": "30Gi"}}}
    p = probe(config, {"a": {"image": "lab", "storage": "20Gi"}}, {})
    with pytest.raises(WorkspaceSpawnFailed) as refused:
        p.check_budget({"image": "lab", "storage": "20Gi"})
    assert refused.value.jupyterhub_message == "storage budget (default): 20Gi of 30Gi in use, 20Gi more asked"
    p.check_budget({"image": "lab", "storage": "10Gi"})  # exactly the budget


def test_restarting_a_workspace_whose_volume_exists_asks_no_storage():
    # 40Gi held against a budget lowered to 30Gi: restarting either workspace makes no new
    # volume (its claim is reused as it is), so the storage budget has nothing to refuse
    config = {"backend": "kubernetes", "quotas": {"default": {"storage": "30Gi"}}}
    twenty = {"image": "lab", "storage": "20Gi"}
    p = probe(config, {"a": twenty, "new": twenty}, {})
    p.holds_its_volume = lambda: True
    p.check_budget(twenty)
    assert p.budget_checked
