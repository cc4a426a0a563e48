"""The idle culler: a JupyterHub service that stops workspaces nobody uses."""

# The least the culler needs: list running servers with their activity and
# the owners' groups (for group rules), and reach servers through the proxy to
# probe them and ask them to shut down. No delete:servers, no admin:users: it
# can neither remove a named server nor delete a user.
SCOPES = [
    "list:users",
    "read:users:name",
    "read:users:groups",
    "read:users:activity",
    "read:servers",
    "access:servers",
]
