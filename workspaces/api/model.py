"""A workspace as the API shows it: the hub's server record, the spec, and what the API remembers."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from ..catalog import Catalog, ImageEntry, Profile
from ..config import CullingPolicy
from ..culling import WorkspaceFacts, cull_warning, effective_timeout, stop_time, verdict
from ..spec import WorkspaceSpec

STATES = ("pending", "running", "stopping", "stopped", "failed")
SPEC_KEYS = tuple(WorkspaceSpec.model_fields)


def clean_spec(options: Any) -> dict[str, Any]:
    """A stored spec with only the keys a spec has (older records may carry others)."""
    if not isinstance(options, dict):
        return {}
    return {k: v for k, v in options.items() if k in SPEC_KEYS}


def revision(spec: dict[str, Any]) -> str:
    """Names one version of a spec; an update must name the one it was based on."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def state_of(server: dict[str, Any], remembered: dict[str, Any]) -> str:
    if server.get("ready"):
        return "running"
    if server.get("pending") == "spawn":
        return "pending"
    if server.get("pending") == "stop":
        return "stopping"
    return "failed" if remembered.get("failure") else "stopped"


def gpus_of(spec: dict[str, Any], catalog: Catalog) -> int:
    if isinstance(spec.get("gpus"), int):
        return spec["gpus"]
    profile = catalog.profile(spec.get("profile") or "")
    return profile.gpu.count if profile else 0


def workspace(
    user: dict[str, Any], server: dict[str, Any], remembered: dict[str, Any], catalog: Catalog, policy: CullingPolicy,
    now: datetime | None = None, backend: str | None = None,
) -> dict[str, Any]:
    """``user``: the owner's hub model (name and groups; the culling rules may match groups);
    ``backend``: where it runs, so that only a successor that can run there is offered."""
    owner = user["name"]
    running = clean_spec(server.get("user_options"))
    pending_update = remembered.get("next_spec")
    spec = clean_spec(pending_update) if pending_update is not None else running
    state = state_of(server, remembered)
    cull = verdict(policy, WorkspaceFacts.of(user, {**server, "user_options": running}, catalog))
    running_since = server.get("started"), server.get("last_activity")
    stops = stop_time(policy, cull, *running_since) if state == "running" else None
    warning = cull_warning(policy, cull, *running_since, now or datetime.now(timezone.utc)) if state == "running" else None
    return {
        "owner": owner,
        "name": server["name"],
        "namespace": spec.get("namespace") or running.get("namespace"),
        "spec": spec,
        "revision": revision(spec),
        "restart_pending": pending_update is not None and state in ("running", "pending") and spec != running,
        "state": state,
        "failure_reason": (remembered.get("failure") or {}).get("message") if state == "failed" else None,
        "url": server.get("url", ""),
        "gpus": gpus_of(spec, catalog),
        "created": remembered.get("created"),
        "started": server.get("started"),
        "last_activity": server.get("last_activity"),
        "idle_timeout": effective_timeout(policy, cull),
        "cull_at": stops.isoformat().replace("+00:00", "Z") if stops else None,
        "cull_warning": warning.json() if warning else None,
        "image_update": image_update(spec, catalog, user.get("groups") or [], backend),
    }


def image_update(
    spec: dict[str, Any], catalog: Catalog, groups: list[str], backend: str | None = None
) -> dict[str, Any] | None:
    """The switch a workspace on a deprecated image is offered: its successor, if the owner may use it
    and (given a backend) it can run there: a switch the next start would refuse is no offer."""
    image = catalog.image(spec.get("image") or "")
    successor = catalog.successor(image) if image and image.deprecated else None
    if image is None or image.deprecated is None or successor is None or not successor.allows(groups):
        return None
    if backend is not None and successor.unavailable_reason(backend) is not None:
        return None
    return {"use": successor.id, "display_name": successor.display_name, "message": image.deprecated.message}


def image_json(image: ImageEntry, backend: str, admin: bool) -> dict[str, Any]:
    reason = image.unavailable_reason(backend)
    out: dict[str, Any] = {
        "id": image.id,
        "display_name": image.display_name,
        "description": image.description,
        "image": image.image,
        "kind": image.kind,
        "kind_info": image.kind_info.public(),
        "gpu": image.gpu,
        "default": image.default,
        "deprecated": image.deprecated.message if image.deprecated else None,
        "successor": image.deprecated.use if image.deprecated else None,
        "available": reason is None,
        "unavailable_reason": reason,
    }
    if admin:
        out.update(
            groups=list(image.groups),
            hidden=image.hidden,
            pull_policy=image.pull_policy,
            local=image.local.model_dump(exclude_none=True) if image.local else None,
            kind_options=image.kind_options.model_dump(exclude_none=True) if image.kind_options else None,
            kind_env=image.kind_info.env,
            security=image.security.model_dump(),
        )
    return out


def profile_json(profile: Profile, admin: bool = False, policy: CullingPolicy | None = None) -> dict[str, Any]:
    out = {
        "id": profile.id,
        "display_name": profile.display_name,
        "description": profile.description,
        "summary": profile.summary(),
        "cpu": {"guarantee": profile.cpu.guarantee, "limit": profile.cpu.limit},
        "memory": {"guarantee": profile.memory.guarantee, "limit": profile.memory.limit},
        "gpus": profile.gpu.count,
        "max_gpus": profile.gpu.max_count,
        "default": profile.default,
    }
    if admin:
        # the rules behind the profile, for the admins' read-only view
        facts = WorkspaceFacts(user="", groups=frozenset(), profile=profile.id, image=None, gpus=profile.gpu.count, namespace=None)
        out.update(
            groups=list(profile.groups),
            hidden=profile.hidden,
            gpu_resource=profile.gpu.resource,
            shm_size=profile.shm_size,
            node_selector=dict(profile.node_selector),
            tolerations=[t.model_dump(exclude_none=True, by_alias=True) for t in profile.tolerations],
            idle_timeout=effective_timeout(policy, verdict(policy, facts)) if policy else None,
        )
    return out
