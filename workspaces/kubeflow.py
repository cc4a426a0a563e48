"""Which Kubeflow profile namespaces a user may create workspaces in.

A user may use the namespace of every ``profiles.kubeflow.org/v1`` Profile
they own (``spec.owner.name``), and every profile namespace where they are a
contributor with the ``edit`` or ``admin`` role: a RoleBinding that carries
Kubeflow's ``user`` and ``role`` annotations (as KFAM and the central dashboard
write them). A user is matched by JupyterHub name or by email, case-insensitively,
since Kubeflow identifies people by the email in its ``kubeflow-userid`` header.

The Kubernetes spawner calls :func:`check_namespace` before it creates any
object; the API service lists :func:`allowed_namespaces`. It lives here, not
in ``spawner``, because both use it and ``workspaces`` must not import ``spawner``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client import ApiClient, CustomObjectsApi, RbacAuthorizationV1Api

# Roles that may create workspaces; "view" may not.
WRITE_ROLES = {"edit", "admin"}


@dataclass(frozen=True, order=True)
class NamespaceAccess:
    namespace: str
    role: str  # "owner", "admin" or "edit"


class NamespaceRefused(Exception):
    """The user may not create workspaces in that namespace; the message lists where they may."""

    def __init__(self, requested: str, allowed: list[NamespaceAccess]):
        self.requested = requested
        self.allowed = allowed
        names = ", ".join(a.namespace for a in allowed) or "(none: ask for a Kubeflow profile or to be added as a contributor)"
        super().__init__(f"namespace {requested!r} is not one you may use; allowed: {names}")


def _identities(names: Iterable[str | None]) -> set[str]:
    return {n.strip().lower() for n in names if n and n.strip()}


def _profile_access(profile: dict[str, Any], me: set[str]) -> NamespaceAccess | None:
    owner = (profile.get("spec") or {}).get("owner") or {}
    if owner.get("kind", "User") == "User" and str(owner.get("name", "")).lower() in me:
        return NamespaceAccess(profile["metadata"]["name"], "owner")
    return None


def _binding_access(binding: dict[str, Any], me: set[str], profile_namespaces: set[str]) -> NamespaceAccess | None:
    meta = binding.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    namespace = meta.get("namespace")
    role = annotations.get("role")
    if namespace not in profile_namespaces or role not in WRITE_ROLES:
        return None
    if str(annotations.get("user", "")).lower() not in me:
        return None
    return NamespaceAccess(namespace, role)


async def allowed_namespaces(api: ApiClient, user: str, email: str | None = None) -> list[NamespaceAccess]:
    """Every profile namespace ``user`` may create workspaces in, owner first."""
    me = _identities([user, email])
    profiles = await CustomObjectsApi(api).list_cluster_custom_object("kubeflow.org", "v1", "profiles")
    bindings = await RbacAuthorizationV1Api(api).list_role_binding_for_all_namespaces(_preload_content=False)
    bindings = await bindings.json()
    profile_namespaces = {p["metadata"]["name"] for p in profiles.get("items", [])}
    found: dict[str, NamespaceAccess] = {}
    for profile in profiles.get("items", []):
        access = _profile_access(profile, me)
        if access:
            found[access.namespace] = access
    for binding in bindings.get("items", []):
        access = _binding_access(binding, me, profile_namespaces)
        if access and access.namespace not in found:
            found[access.namespace] = access
    rank = {"owner": 0, "admin": 1, "edit": 2}
    return sorted(found.values(), key=lambda a: (rank[a.role], a.namespace))


async def check_namespace(
    api: ApiClient, user: str, requested: str | None, email: str | None = None
) -> NamespaceAccess:
    """The namespace a workspace goes to: ``requested``, or the user's own profile.

    Raises :class:`NamespaceRefused` before anything is created.
    """
    allowed = await allowed_namespaces(api, user, email)
    if requested is None:
        owned = [a for a in allowed if a.role == "owner"]
        if not owned:
            raise NamespaceRefused("(your own profile)", allowed)
        return owned[0]
    for access in allowed:
        if access.namespace == requested:
            return access
    raise NamespaceRefused(requested, allowed)
