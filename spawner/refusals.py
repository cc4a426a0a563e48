"""The API server's refusal of a workspace's pod or PVC, as the start failure the user reads.

Admission plugins refuse a create with 403 Forbidden and say why: Pod Security
(``violates PodSecurity "restricted:latest": runAsNonRoot != true ...``), a
ResourceQuota (``exceeded quota: ...``), a LimitRange (``maximum cpu usage per
Container is 2, but limit is 4``), RBAC. Validation refuses with 422 Invalid.
Asking again changes nothing, so the start ends at once with the server's
message and a status the user can act on: 403 for what the namespace forbids,
400 for what the spec asked that cannot be.
"""

from __future__ import annotations

import json

from kubernetes_asyncio.client.rest import ApiException

from workspaces.catalog import ImageEntry

from .base import WorkspaceSpawnFailed

# the API server's status -> the user's; any other 4xx (a missing namespace, a
# credential the server does not take) is not the user's to fix: 502
STATUS = {400: 400, 403: 403, 422: 400}
POD_SECURITY = "violates PodSecurity"


def is_refusal(error: ApiException) -> bool:
    """A client error (4xx) other than 409, which KubeSpawner handles (the object exists)."""
    return 400 <= (error.status or 0) < 500 and error.status != 409


def server_message(error: ApiException) -> str:
    """The message of the server's Status object, else its status line."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except (TypeError, ValueError, AttributeError):
        message = None
    return message or f"{error.status} {error.reason}"


def refusal(what: str, error: ApiException, image: ImageEntry | None) -> WorkspaceSpawnFailed:
    """The start failure for the server refusing the workspace's ``what`` ('pod', 'storage')."""
    message = f"the cluster refused the workspace's {what}: {server_message(error)}"
    if POD_SECURITY in message and image is not None:
        # what the namespace allows is the cluster admin's; what the image needs, the catalog's
        message += f" (image {image.id!r} needs {image.security.needs()}: catalog key security)"
    return WorkspaceSpawnFailed(message, reason="refused", status_code=STATUS.get(error.status, 502))
