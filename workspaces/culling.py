"""Which idle timeout applies to a workspace (the admin's rules, first match wins), and when
it will stop if nothing happens.

The spawner turns it into the server's own culling settings; the culler reports
with it and enforces max_age; the API and the dashboard show the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .catalog import Catalog
from .config import CullingPolicy, CullRule, GpuIdle


def parse_time(value: str | None) -> datetime | None:
    """A hub timestamp (ISO 8601, maybe with Z) as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Verdict:
    rule: str  # "rules[0]", a rule's name, or "default"
    timeout: float | None  # None: exempt
    gpu_idle: GpuIdle | None = None  # the rule's GPU-idle limit, read by the culler


@dataclass(frozen=True)
class WorkspaceFacts:
    """What rules match on, read from the hub's user and server models."""

    user: str
    groups: frozenset[str]
    profile: str | None
    image: str | None
    gpus: int
    namespace: str | None

    @classmethod
    def of(cls, user: dict[str, Any], server: dict[str, Any], catalog: Catalog | None) -> WorkspaceFacts:
        options = server.get("user_options") or {}
        profile_id = options.get("profile")
        gpus = options.get("gpus")
        if not isinstance(gpus, int):
            profile = catalog.profile(profile_id) if catalog and isinstance(profile_id, str) else None
            gpus = profile.gpu.count if profile else 0
        return cls(
            user=user["name"],
            groups=frozenset(user.get("groups") or ()),
            profile=profile_id if isinstance(profile_id, str) else None,
            image=options.get("image") if isinstance(options.get("image"), str) else None,
            gpus=gpus,
            namespace=options.get("namespace") if isinstance(options.get("namespace"), str) else None,
        )


def _matches(rule: CullRule, facts: WorkspaceFacts) -> bool:
    m = rule.match
    return (
        (m.profile is None or m.profile == facts.profile)
        and (m.image is None or m.image == facts.image)
        and (m.gpu is None or m.gpu == (facts.gpus > 0))
        and (m.group is None or m.group in facts.groups)
        and (m.user is None or m.user == facts.user)
        and (m.namespace is None or m.namespace == facts.namespace)
    )


def verdict(policy: CullingPolicy, facts: WorkspaceFacts) -> Verdict:
    for i, rule in enumerate(policy.rules):
        if _matches(rule, facts):
            return Verdict(rule.name or f"rules[{i}]", None if rule.exempt else rule.timeout, rule.gpu_idle)
    return Verdict("default", policy.default_timeout)


def idle_timeout(policy: CullingPolicy, v: Verdict) -> float | None:
    """The idle time after which a workspace stops; None when exempt. A rule's
    timeout shorter than the startup grace is raised to it: the server counts its
    own start as activity, so a new workspace is never stopped sooner."""
    return None if v.timeout is None else max(v.timeout, policy.startup_grace)


def effective_timeout(policy: CullingPolicy, v: Verdict) -> float | None:
    """The idle timeout in force; None when nothing stops the workspace for being idle
    (exempt, culling off, dry run)."""
    return idle_timeout(policy, v) if policy.enabled and not policy.dry_run else None


def server_culling_args(policy: CullingPolicy, v: Verdict) -> list[str]:
    """jupyter-server's own culling, set from the rule that applies (the spawner passes these).

    The server stops itself once it has had no kernel, terminal or API activity for
    the timeout. Idle kernels and terminals are culled on the same timeout, but a
    busy kernel, or one a browser is connected to, never is: the workspace keeps
    running while a job does. The server checks for its own shutdown once a minute.
    """
    timeout = effective_timeout(policy, v)
    if timeout is None:
        return []
    seconds = int(timeout)
    every = max(1, min(60, seconds // 2))
    return [
        f"--ServerApp.shutdown_no_activity_timeout={seconds}",
        f"--MappingKernelManager.cull_idle_timeout={seconds}",
        f"--MappingKernelManager.cull_interval={every}",
        "--MappingKernelManager.cull_busy=False",
        "--MappingKernelManager.cull_connected=False",
        f"--TerminalManager.cull_inactive_timeout={seconds}",
        f"--TerminalManager.cull_interval={every}",
    ]


def keepalive_args(policy: CullingPolicy, v: Verdict) -> list[str]:
    """The keep-alive extension (workspaces.keepalive_server) for a server that stops itself.

    A server whose image lacks this package logs that the extension is missing
    and runs as before.
    """
    if effective_timeout(policy, v) is None:
        return []
    return [
        '--ServerApp.jpserver_extensions={"workspaces.keepalive_server": True}',
        f"--WorkspacesKeepalive.warn_before={int(policy.warn_before)}",
        f"--WorkspacesKeepalive.max_age={int(policy.max_age or 0)}",
    ]


def stop_time(policy: CullingPolicy, v: Verdict, started: str | None, last_activity: str | None) -> datetime | None:
    """When a running workspace stops if nothing happens from now on (give or take
    the server's one-minute check); None when it never will (exempt, culling off,
    dry run).

    Idle past the timeout (counted from the start when there was no activity
    yet), and at max_age whatever happens.
    """
    stop = _stop(policy, v, started, last_activity)
    return stop[0] if stop else None


# Why a workspace will stop, as cull_warning.reason says it.
IDLE = "idle"
MAX_AGE = "max_age"


def _stop(
    policy: CullingPolicy, v: Verdict, started: str | None, last_activity: str | None
) -> tuple[datetime, str] | None:
    start = parse_time(started)
    timeout = effective_timeout(policy, v)
    if timeout is None or start is None:
        return None
    when, why = (parse_time(last_activity) or start) + timedelta(seconds=timeout), IDLE
    if policy.max_age is not None and start + timedelta(seconds=policy.max_age) <= when:
        when, why = start + timedelta(seconds=policy.max_age), MAX_AGE
    return when, why


@dataclass(frozen=True)
class CullWarning:
    """A running workspace that stops within ``culling.warn_before``."""

    at: datetime
    seconds_left: float
    reason: str  # IDLE (a keep-alive moves it) or MAX_AGE (nothing does)

    def json(self) -> dict[str, Any]:
        return {"at": iso(self.at), "seconds_left": int(self.seconds_left), "reason": self.reason}


def iso(when: datetime) -> str:
    """A UTC time as the hub writes it (Z, not +00:00)."""
    return when.isoformat().replace("+00:00", "Z")


def cull_warning(
    policy: CullingPolicy, v: Verdict, started: str | None, last_activity: str | None, now: datetime
) -> CullWarning | None:
    """The warning due now, if the workspace stops within warn_before (None: not soon, never, or warnings off)."""
    stop = _stop(policy, v, started, last_activity)
    if stop is None or policy.warn_before <= 0:
        return None
    left = (stop[0] - now).total_seconds()
    return CullWarning(stop[0], max(0.0, left), stop[1]) if left <= policy.warn_before else None


def kept_alive_until(policy: CullingPolicy, v: Verdict, started: str | None, now: datetime) -> datetime | None:
    """The stop a keep-alive at ``now`` leads to: one idle timeout from now, as if the
    owner had just been active, never past max_age; None when nothing stops it."""
    return stop_time(policy, v, started, iso(now))
