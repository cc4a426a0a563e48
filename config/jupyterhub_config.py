"""JupyterHub configuration of Workspaces: reads workspaces.yaml and wires the hub.

Started by ``workspaces up``, or directly::

    WORKSPACES_CONFIG=config/workspaces.yaml jupyterhub -f config/jupyterhub_config.py

Environment: WORKSPACES_CONFIG (the YAML file), WORKSPACES_DATA_DIR (default
./data), WORKSPACES_PORT (overrides hub.port). For anything the YAML does not
cover, point ``hub.extra_config`` at an ordinary jupyterhub_config.py; it is
loaded last and may override what is set here.
"""

import os
import sys

from culler import SCOPES as CULLER_SCOPES
from workspaces.errors import ConfigError
from workspaces.launch import LaunchError, prepare, proxy_command

c = get_config()  # noqa: F821 (provided by traitlets when JupyterHub loads this file)

try:
    launch = prepare(
        os.environ.get("WORKSPACES_CONFIG") or None,
        os.environ.get("WORKSPACES_DATA_DIR") or None,
        int(os.environ["WORKSPACES_PORT"]) if os.environ.get("WORKSPACES_PORT") else None,
    )
    proxy = proxy_command()
except ConfigError as e:
    for line in e.lines():
        print(f"workspaces: error: {line}", file=sys.stderr)
    sys.exit(1)
except LaunchError as e:
    print(f"workspaces: error: {e}", file=sys.stderr)
    sys.exit(1)

settings = launch.config.settings
hub = settings.hub

# Network: loopback unless the config says otherwise.
c.JupyterHub.ip = hub.ip
c.JupyterHub.port = launch.port
c.JupyterHub.hub_ip = hub.hub_ip
c.JupyterHub.hub_port = hub.hub_port
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub.proxy_api_port}"
c.ConfigurableHTTPProxy.command = proxy

# State: everything in the data dir.
c.JupyterHub.db_url = launch.data.db_url
c.JupyterHub.cookie_secret_file = str(launch.data.cookie_secret_file)
c.JupyterHub.pid_file = str(launch.data.pid_file)
# where a restarted hub finds a proxy left by a hub that was killed
c.ConfigurableHTTPProxy.pid_file = str(launch.data.proxy_pid_file)

# A hub restart must not stop anybody's work; the hub finds servers again from their state.
c.JupyterHub.cleanup_servers = False

# Workspaces are named servers; several per user.
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = settings.named_server_limit_per_user

# Auth: generated passwords, never "any password works".
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.admin_users = set(settings.auth.admin_users)
c.SharedPasswordAuthenticator.admin_password = launch.admin_password
c.SharedPasswordAuthenticator.user_password = launch.user_password
# Users an admin has added may log in with the user password; nobody else can register.
c.SharedPasswordAuthenticator.allow_existing_users = True

# Spawner: the backend the config names.
if settings.backend == "kubernetes":
    # KubeSpawner reads the cluster from in-cluster config, else $KUBECONFIG
    from spawner.kubernetes import KubeWorkspaceSpawner

    c.JupyterHub.spawner_class = KubeWorkspaceSpawner
    c.KubeWorkspaceSpawner.workspaces_config = str(launch.config.path or "")
    c.KubeWorkspaceSpawner.catalog_edits = str(launch.data.catalog_edits)
else:
    from spawner.local import LocalWorkspaceSpawner

    c.JupyterHub.spawner_class = LocalWorkspaceSpawner
    c.LocalWorkspaceSpawner.workspaces_config = str(launch.config.path or "")
    c.LocalWorkspaceSpawner.workspaces_root = str(launch.data.workspaces)
    c.LocalWorkspaceSpawner.catalog_edits = str(launch.data.catalog_edits)
c.Spawner.default_url = "/lab"

# The idle culler: a hub service with the least scopes it needs (culler.SCOPES).
# It stops a workspace by asking the server to shut down through the proxy, so
# it holds no delete:servers and cannot remove a named server or a user.
culling = settings.culling
culler_service = {"name": "culler", "display": False}
if culling.enabled:
    culler_service.update(
        command=[
            sys.executable, "-m", "culler",
            f"--config={launch.config.path or ''}",
            f"--public-url={launch.url}",
        ],
        url=f"http://127.0.0.1:{culling.port}",
    )

# The workspaces API: acts on the hub with each caller's own token, so its own
# token needs no scopes; callers need access to it, which every user gets.
api_service = {
    "name": "workspaces",
    "display": False,
    "command": [
        sys.executable, "-m", "workspaces.api",
        f"--config={launch.config.path or ''}",
        f"--data-dir={launch.data.path}",
    ],
    "url": f"http://127.0.0.1:{settings.api.port}",
    # browsers log in through the hub's OAuth; the token it issues acts as its user
    "oauth_no_confirm": True,
    "oauth_client_allowed_scopes": ["inherit"],
    # hub services get a clean environment; the namespaces endpoint needs the cluster
    "environment": {
        key: os.environ[key]
        for key in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
        if key in os.environ
    },
}
c.JupyterHub.services = [culler_service, api_service]

# Changing the image catalog through the API is what this scope allows; the
# admin users of workspaces.yaml have it (give it to others with a role).
c.JupyterHub.custom_scopes = {
    "custom:workspaces:catalog": {"description": "Add, change, deprecate and remove images of the Workspaces catalog."}
}
c.JupyterHub.load_roles = [
    {"name": "workspaces-culler", "description": "Stop idle workspaces", "scopes": CULLER_SCOPES, "services": ["culler"]},
    {"name": "user", "description": "Standard user privileges, and the workspaces API",
     "scopes": ["self", "access:services!service=workspaces"]},
    {"name": "workspaces-catalog-admins", "description": "Edit the image catalog through the workspaces API",
     "scopes": ["custom:workspaces:catalog", "access:services!service=workspaces"],
     "users": list(settings.auth.admin_users)},
]

if hub.extra_config:
    load_subconfig(str(launch.config.resolve(hub.extra_config)))  # noqa: F821
