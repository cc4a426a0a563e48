"""The Workspaces REST API: a JupyterHub service at ``/services/workspaces/api/v1/``.

Callers authenticate with their JupyterHub token; the service acts on the hub
with that same token, so JupyterHub's scopes decide what each caller may do
(a user's own workspaces; others' with ``admin:servers`` or a scoped grant),
and the service's own token needs no scopes. Its OpenAPI document is
``openapi.json`` next to this file.
"""
