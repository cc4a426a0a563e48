"""Sharing a workspace: whether this hub allows it, and the hub scopes users need for it.

JupyterHub (5 and later) lets a server's owner grant another user or a group
access to it, directly or through a share code. It is off unless users hold
the ``shares`` scope on their own servers; the hub config grants the scopes
below only where :func:`sharing_refusal` finds nothing against it, so the hub
itself refuses a share the workspaces API would refuse.
"""

from __future__ import annotations

from typing import Any

# What the user role gains where sharing is allowed, and why each:
USER_SHARING_SCOPES = (
    # grant, list and revoke shares (and share codes) of one's own servers, and no one else's
    "shares!user",
    # the hub asks for the name of who a share is granted to: it must be able to name them
    "read:users:name",
    "read:groups:name",
)

# A share code lives from one minute to a year: the hub's own bounds (ShareCodeGrantRequest).
MIN_CODE_EXPIRY = 60
MAX_CODE_EXPIRY = 365 * 24 * 3600
DEFAULT_CODE_EXPIRY = 24 * 3600


def sharing_refusal(settings: Any, euid: int) -> str | None:
    """Why this hub refuses to share workspaces, or None where it allows it.

    ``settings``: the workspaces.yaml settings; ``euid``: the account the hub runs as.
    A share gives another user the owner's workspace, and so whatever the
    account it runs as can do: where that account is the hub's own (local
    without isolation), that is the hub and every user's files, which a share
    must never hand out, and which every user could reach anyway.
    """
    if settings.backend == "kubernetes":
        return None
    mode = settings.local.isolation_mode(euid)
    if mode == "users":
        return None
    if mode == "none":
        why = "every workspace here runs as the hub's own OS account (local.isolation: none), so users are not isolated from each other"
    else:
        why = "this hub runs without root, so workspaces run as the hub's own OS account and users are not isolated from each other"
    return (
        f"sharing is off on this hub: {why}; a share would hand out that account. "
        "Sharing needs local.isolation: users (a hub run as root) or the kubernetes backend"
    )
