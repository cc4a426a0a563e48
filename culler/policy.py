"""Which timeout applies to a workspace: the admin's rules, first match wins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workspaces.catalog import Catalog
from workspaces.config import CullingPolicy, CullRule


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
