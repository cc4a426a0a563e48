"""Budgets: what each user may hold at once (``quotas:`` in workspaces.yaml), what they hold,
and whether a start fits.

Pure functions over the config, the catalog and the user's workspaces as the hub
records them (their ``user_options`` and whether they run), so the spawner (which
enforces), ``GET /info`` and the admin's usage view compute the same figures.

Three limits: GPUs in running workspaces, running workspaces, and storage (the
sum of the sizes of all the user's workspaces, stopped ones too: their volumes
stay). For each limit, the user's own entry wins; otherwise the most generous
value among the user's groups that set it (no limit being the most generous);
otherwise the default; a limit nobody sets is no limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .catalog import Catalog
from .config import QuotaLimits, QuotaSettings, WorkspacesConfig
from .culling import WorkspaceFacts
from .quantity import memory_bytes

LIMITS = ("gpus", "workspaces", "storage")


@dataclass(frozen=True)
class Limit:
    value: int | None  # None: no limit; storage in bytes
    source: str  # where it comes from: "default", "group ml-team", "user alice", "none"


@dataclass(frozen=True)
class Budget:
    gpus: Limit
    workspaces: Limit
    storage: Limit

    def limit(self, kind: str) -> Limit:
        return getattr(self, kind)


@dataclass(frozen=True)
class Demand:
    """What one workspace holds while it runs (GPUs, a running slot) and always (storage)."""

    gpus: int
    storage: int  # bytes; 0 where storage has no size (the local backend)


@dataclass(frozen=True)
class Use:
    gpus: int = 0
    workspaces: int = 0
    storage: int = 0

    def of(self, kind: str) -> int:
        return getattr(self, kind)

    def __add__(self, other: Use) -> Use:
        return Use(self.gpus + other.gpus, self.workspaces + other.workspaces, self.storage + other.storage)


def _value(entry: QuotaLimits, kind: str) -> int | None:
    raw = getattr(entry, kind)
    if raw is None:
        return None
    return memory_bytes(raw) if kind == "storage" else int(raw)


def _limit(quotas: QuotaSettings, user: str, groups: Iterable[str], kind: str) -> Limit:
    own = quotas.users.get(user)
    if own is not None and kind in own.model_fields_set:
        return Limit(_value(own, kind), f"user {user}")
    setting = [(g, quotas.groups[g]) for g in sorted(set(groups)) if g in quotas.groups]
    setting = [(g, e) for g, e in setting if kind in e.model_fields_set]
    if setting:
        # the most generous: no limit beats any number
        group, entry = max(setting, key=lambda ge: (_value(ge[1], kind) is None, _value(ge[1], kind) or 0))
        return Limit(_value(entry, kind), f"group {group}")
    if kind in quotas.default.model_fields_set:
        return Limit(_value(quotas.default, kind), "default")
    return Limit(None, "none")


def budget_for(quotas: QuotaSettings, user: str, groups: Iterable[str]) -> Budget:
    """The user's limits, each with the entry it comes from."""
    groups = list(groups)
    return Budget(*(_limit(quotas, user, groups, kind) for kind in LIMITS))


def sized_storage(settings: WorkspacesConfig) -> str | None:
    """The size of a workspace that names none, where workspaces have sizes (Kubernetes); else None."""
    return settings.storage.default_size if settings.backend == "kubernetes" else None


def demand(options: dict[str, Any] | None, catalog: Catalog | None, default_storage: str | None) -> Demand:
    """What a workspace of these ``user_options`` holds. ``default_storage``: the size of a
    workspace that names none (Kubernetes); None where storage has no size (local).

    A record without options was never started (JupyterHub keeps a default
    server record for every user): it holds nothing, no volume included."""
    if not options:
        return Demand(0, 0)
    gpus = WorkspaceFacts.of({"name": ""}, {"user_options": options or {}}, catalog).gpus
    if default_storage is None:
        return Demand(gpus, 0)
    size = (options or {}).get("storage") or default_storage
    try:
        storage = memory_bytes(size)
    except ValueError:
        storage = memory_bytes(default_storage)  # a record from before a bound changed; count it as the default
    return Demand(gpus, storage)


def use_of(workspaces: Iterable[tuple[Demand, bool]]) -> Use:
    """What a user holds: ``workspaces`` are (demand, running) pairs."""
    total = Use()
    for d, running in workspaces:
        total += Use(d.gpus if running else 0, 1 if running else 0, d.storage)
    return total


def storage_text(size: int) -> str:
    """Bytes as the largest binary unit that states them exactly, else in Gi with a decimal."""
    for unit, factor in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size / 2**30:.1f}Gi" if size >= 2**30 else f"{size}"


def amount(kind: str, value: int) -> str:
    """A figure as people read it: '2 GPUs', '1 running workspace', '40Gi'."""
    if kind == "storage":
        return storage_text(value)
    noun = "GPU" if kind == "gpus" else "running workspace"
    return f"{value} {noun}{'' if value == 1 else 's'}"


NAMES = {"gpus": "GPU budget", "workspaces": "workspace budget", "storage": "storage budget"}


def refusal(budget: Budget, use: Use, asked: Use) -> str | None:
    """Why a start that adds ``asked`` to ``use`` does not fit ``budget``; None when it does.

    E.g. "GPU budget (group ml-team): 2 of 2 GPUs in use, 1 more asked".
    """
    for kind in LIMITS:
        limit, more = budget.limit(kind), asked.of(kind)
        if limit.value is None or more == 0 or use.of(kind) + more <= limit.value:
            continue
        in_use = use.of(kind)
        held = storage_text(in_use) if kind == "storage" else str(in_use)
        return (
            f"{NAMES[kind]} ({limit.source}): {held} of {amount(kind, limit.value)} in use, "
            f"{storage_text(more) if kind == 'storage' else more} more asked"
        )
    return None


def describe(budget: Budget, use: Use) -> dict[str, Any]:
    """The budget and use as the API shows them: per limit, the figures and a sentence."""
    out: dict[str, Any] = {}
    for kind in LIMITS:
        limit, used = budget.limit(kind), use.of(kind)
        if limit.value is None:
            text = f"{storage_text(used) if kind == 'storage' else amount(kind, used)} in use, no limit"
        else:
            text = f"{storage_text(used) if kind == 'storage' else used} of {amount(kind, limit.value)} in use"
        out[kind] = {"limit": limit.value, "in_use": used, "source": limit.source, "text": text}
    return out


def server_use(
    servers: dict[str, Any], catalog: Catalog | None, default_storage: str | None
) -> Use:
    """A user's use from the hub's model of their servers (``include_stopped_servers``)."""
    return use_of(
        (demand(s.get("user_options"), catalog, default_storage), bool(s.get("ready") or s.get("pending")))
        for s in (servers or {}).values()  # the default server too: the hub starts it with the same spawner
    )


def user_budget(settings: WorkspacesConfig, catalog: Catalog | None, user: dict[str, Any]) -> dict[str, Any]:
    """A user's budget and use as the API shows them, from the hub's user model (stopped servers included)."""
    budget = budget_for(settings.quotas, user["name"], user.get("groups") or [])
    return describe(budget, server_use(user.get("servers") or {}, catalog, sized_storage(settings)))
