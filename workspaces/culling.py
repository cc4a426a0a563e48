"""Which idle timeout applies to a workspace (the admin's rules, first match wins), and when
the culler will stop it if nothing happens.

The culler decides with it; the API and the dashboard use it to show the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .catalog import Catalog
from .config import CullingPolicy, CullRule


def parse_time(value: str | None) -> datetime | None:
    """A hub timestamp (ISO 8601, maybe with Z) as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Verdict:
    rule: str  # "rules[0]", a rule's name, or "default"
    timeout: float | None  # None: exempt


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
            return Verdict(rule.name or f"rules[{i}]", None if rule.exempt else rule.timeout)
    return Verdict("default", policy.default_timeout)


def effective_timeout(policy: CullingPolicy, v: Verdict) -> float | None:
    """The idle timeout the culler acts on; None when it never stops the workspace
    (exempt, culling off, dry run)."""
    return v.timeout if policy.enabled and not policy.dry_run else None


def stop_time(policy: CullingPolicy, v: Verdict, started: str | None, last_activity: str | None) -> datetime | None:
    """When the culler stops a running workspace if nothing happens from now on
    (give or take one pass); None when it never will (exempt, culling off, dry run).

    Mirrors the culler's decision: idle past the timeout (counted from the start
    when there was no activity yet), never inside the startup grace, and at
    max_age whatever happens.
    """
    start = parse_time(started)
    timeout = effective_timeout(policy, v)
    if timeout is None or start is None:
        return None
    last = parse_time(last_activity) or start
    when = max(last + timedelta(seconds=timeout), start + timedelta(seconds=policy.startup_grace))
    if policy.max_age is not None:
        when = min(when, start + timedelta(seconds=policy.max_age))
    return when
