"""The idle culler: a JupyterHub service that explains culling and enforces max_age."""

# The least the culler needs: list running servers with their activity and
# the owners' groups (for group rules), and stop servers through the hub API,
# the same scopes as jupyterhub-idle-culler's. No access:servers: it never talks
# to a user's server, so no credential of its reaches one. No start:servers, no
# admin:users: it can neither start a server nor delete a user. JupyterHub has
# no scope that stops without also removing a named server; the culler never
# asks for a removal.
SCOPES = [
    "list:users",
    "read:users:name",
    "read:users:groups",
    "read:users:activity",
    "read:servers",
    "delete:servers",
]
