"""JupyterHub configuration of Workspaces: reads workspaces.yaml and wires the hub.

Started by ``workspaces up``, or directly::

    WORKSPACES_CONFIG=config/workspaces.yaml jupyterhub -f config/jupyterhub_config.py

Environment: WORKSPACES_CONFIG (the YAML file), WORKSPACES_DATA_DIR (default
./data), WORKSPACES_PORT (overrides hub.port); in a cluster also JupyterHub's own
JPY_COOKIE_SECRET and CONFIGPROXY_AUTH_TOKEN, and the variable hub.db_url_env
names (the Helm chart sets them from its Secret). For anything the YAML does not
cover, point ``hub.extra_config`` at an ordinary jupyterhub_config.py; it is
loaded last and may override what is set here.
"""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import workspaces

from culler import SCOPES as CULLER_SCOPES
from culler.ready_servers import PATH as READY_SERVERS_PATH
from culler.ready_servers import ReadyServersHandler
from workspaces.errors import ConfigError
from workspaces.hub_db import index_spawners_by_user, remove_shares_where_sharing_is_off
from workspaces.launch import LaunchError, prepare, proxy_command
from workspaces.lifetime import exit_without_collecting
from workspaces.sharing import USER_SHARING_SCOPES, sharing_refusal

if TYPE_CHECKING:
    from jupyterhub.handlers.base import BaseHandler

c = get_config()  # noqa: F821 (provided by traitlets when JupyterHub loads this file)

try:
    launch = prepare(
        os.environ.get("WORKSPACES_CONFIG") or None,
        os.environ.get("WORKSPACES_DATA_DIR") or None,
        int(os.environ["WORKSPACES_PORT"]) if os.environ.get("WORKSPACES_PORT") else None,
    )
    settings = launch.config.settings
    hub = settings.hub
    # a proxy that runs on its own (the Helm chart's) need not be installed here
    proxy = None if hub.external_proxy else proxy_command()
except ConfigError as e:
    for line in e.lines():
        print(f"workspaces: error: {line}", file=sys.stderr)
    sys.exit(1)
except LaunchError as e:
    print(f"workspaces: error: {e}", file=sys.stderr)
    sys.exit(1)

# Network: loopback unless the config says otherwise.
c.JupyterHub.ip = hub.ip
c.JupyterHub.port = launch.port
c.JupyterHub.base_url = hub.base_url
c.JupyterHub.hub_ip = hub.hub_ip
c.JupyterHub.hub_port = hub.hub_port
c.ConfigurableHTTPProxy.api_url = hub.proxy_api_url or f"http://127.0.0.1:{hub.proxy_api_port}"
if hub.external_proxy:
    # its token: $CONFIGPROXY_AUTH_TOKEN, shared with the proxy (the chart's Secret)
    c.ConfigurableHTTPProxy.should_start = False
else:
    c.ConfigurableHTTPProxy.command = proxy
if hub.connect_url:
    c.JupyterHub.hub_connect_url = hub.connect_url
if hub.subdomain_host:
    # An origin per user, for users who do not trust each other: the hub at the
    # host, servers at <user>.<host>, services at <name>--service.<host>. The
    # "idna" names are JupyterHub's default, pinned because workspaces.client
    # finds the API by the same rule (as the function: JupyterHub 6 calls a
    # configured "idna" string). A proxy of its own needs --host-routing.
    from jupyterhub.utils import subdomain_hook_idna

    c.JupyterHub.subdomain_host = hub.subdomain_host
    c.JupyterHub.subdomain_hook = subdomain_hook_idna
# How the proxy reaches the services below; they listen on loopback unless it runs elsewhere.
services_host = hub.services_host or "127.0.0.1"
services_ip = "0.0.0.0" if hub.services_host else "127.0.0.1"

# State: everything in the data dir, except a database named by the environment.
if hub.db_url_env:
    if not os.environ.get(hub.db_url_env):
        print(f"workspaces: error: hub.db_url_env names ${hub.db_url_env}, which is not set", file=sys.stderr)
        sys.exit(1)
    c.JupyterHub.db_url = os.environ[hub.db_url_env]
else:
    c.JupyterHub.db_url = launch.data.db_url
# user lists at scale (the API's, the culler's, the admin page) read spawners by user
index_spawners_by_user(c.JupyterHub.db_url)
# Where sharing is off (users not isolated), no share made while it was on may outlive it:
# the hub grants a share from its database, whatever the owner's role holds now.
try:
    remove_shares_where_sharing_is_off(c.JupyterHub.db_url, settings, os.geteuid())
except Exception as e:  # a share left in place would open a workspace: do not start
    print(f"workspaces: error: sharing is off, but the hub database's shares could not be removed: {e}",
          file=sys.stderr)
    sys.exit(1)
c.JupyterHub.cookie_secret_file = str(launch.data.cookie_secret_file)
c.JupyterHub.pid_file = str(launch.data.pid_file)
# where a restarted hub finds a proxy left by a hub that was killed
c.ConfigurableHTTPProxy.pid_file = str(launch.data.proxy_pid_file)

# A hub restart must not stop anybody's work; the hub finds servers again from their state.
c.JupyterHub.cleanup_servers = False
# Ctrl-C: the hub stops its services (each ends within a fraction of a second of
# SIGINT) and the proxy it started, then exits without a last collection.
exit_without_collecting()

# Workspaces are named servers; several per user.
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = settings.named_server_limit_per_user

auth = settings.auth
if auth.type == "header":
    # Kubeflow: the gateway has logged the user in; its header is believed only from it.
    from workspaces.auth import HeaderAuthenticator

    c.JupyterHub.authenticator_class = HeaderAuthenticator
    c.HeaderAuthenticator.admin_users = set(auth.admin_users)
    c.HeaderAuthenticator.user_header = auth.header.user_header
    c.HeaderAuthenticator.groups_header = auth.header.groups_header or ""
    c.HeaderAuthenticator.user_prefix = auth.header.user_prefix
    c.HeaderAuthenticator.trusted_sources = [str(n) for n in auth.header.trusted_sources]
    c.HeaderAuthenticator.trusted_proxies = [str(n) for n in auth.header.trusted_proxies]
elif auth.type == "oidc":
    # An OpenID Connect provider logs people in; its endpoints come from its discovery document.
    from oauthenticator.generic import GenericOAuthenticator

    from workspaces.oidc import OidcError, authenticator_config, discover

    try:
        oidc_traits = authenticator_config(
            auth, launch.url.rstrip("/") + hub.base_url, os.environ, discover(auth.oidc.issuer)
        )
    except OidcError as e:
        print(f"workspaces: error: {e}", file=sys.stderr)
        sys.exit(1)
    c.JupyterHub.authenticator_class = GenericOAuthenticator
    for trait, value in oidc_traits.items():
        setattr(c.GenericOAuthenticator, trait, value)
elif auth.type == "shared-password":
    # A workshop on one machine: one password for all users (config.py refuses it on Kubernetes).
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.admin_users = set(auth.admin_users)
    c.SharedPasswordAuthenticator.admin_password = launch.admin_password
    c.SharedPasswordAuthenticator.user_password = launch.user_password
    # Users an admin has added may log in with the user password; nobody else can register.
    c.SharedPasswordAuthenticator.allow_existing_users = True
else:
    # native: a password per person; sign-ups wait for an admin's approval at /hub/authorize.
    from workspaces.native_auth import WorkspacesNativeAuthenticator

    native = auth.native_settings
    c.JupyterHub.authenticator_class = WorkspacesNativeAuthenticator
    c.WorkspacesNativeAuthenticator.admin_users = set(auth.admin_users)
    # the admins can log in on a fresh install: their accounts start with this password
    c.WorkspacesNativeAuthenticator.first_admin_password = launch.admin_password
    c.WorkspacesNativeAuthenticator.open_signup = False
    c.WorkspacesNativeAuthenticator.minimum_password_length = native.minimum_password_length
    c.WorkspacesNativeAuthenticator.check_common_password = native.refuse_common_passwords
    c.WorkspacesNativeAuthenticator.allowed_failed_logins = native.lockout_after
    c.WorkspacesNativeAuthenticator.seconds_before_next_try = int(native.lockout_for)

# Spawner: the backend the config names.
if settings.backend == "kubernetes":
    # KubeSpawner reads the cluster from in-cluster config, else $KUBECONFIG
    from spawner.kubernetes import KubeWorkspaceSpawner

    c.JupyterHub.spawner_class = KubeWorkspaceSpawner
    c.KubeWorkspaceSpawner.workspaces_config = str(launch.config.path or "")
    c.KubeWorkspaceSpawner.catalog_edits = str(launch.data.catalog_edits)
else:
    import logging

    from spawner.local import LocalWorkspaceSpawner, startup_lines

    c.JupyterHub.spawner_class = LocalWorkspaceSpawner
    # what isolates workspaces and holds their limits on this machine, said once at start
    for line in startup_lines(settings):
        logging.getLogger("JupyterHub").info(line)
    if settings.local.python is None and settings.local.isolation_mode(os.geteuid()) == "users":
        # made now rather than at the first start, which would wait for it
        from spawner.users_env import UsersEnvError, users_python

        try:
            if users_python():
                logging.getLogger("JupyterHub").info("Local workspaces: they run the users' Python, %s", users_python())
        except UsersEnvError as e:
            logging.getLogger("JupyterHub").warning("Local workspaces: %s", e)
    c.LocalWorkspaceSpawner.workspaces_config = str(launch.config.path or "")
    c.LocalWorkspaceSpawner.workspaces_root = str(launch.data.workspaces)
    c.LocalWorkspaceSpawner.catalog_edits = str(launch.data.catalog_edits)
    c.LocalWorkspaceSpawner.gpu_lease_file = str(launch.data.gpu_leases)
    # GPUs detected now, not at the first form: the API's capacity figures read the lease file
    from spawner.local import machine_gpus

    machine_gpus(settings.local, launch.data.gpu_leases)
    # warm processes ready before the first start (spawner.warm); none with local.warm_pool.size 0
    from spawner.local import fill_warm_pools_at_start

    fill_warm_pools_at_start(launch.config, launch.data.catalog_edits, launch.data.workspaces)
c.Spawner.default_url = "/lab"

# The hub's pages link to the dashboard (navigation and home page).
c.JupyterHub.template_paths = [str(Path(workspaces.__file__).parent / "hub_templates")]

# Idle workspaces stop themselves (the spawner sets each server's own culling
# from the rules). The culler service explains and enforces max_age through the
# hub API, with the least scopes it needs (culler.SCOPES): it never talks to a
# user's server, and cannot remove a named server or a user.
culling = settings.culling
culler_service = {"name": "culler", "display": False}
if culling.enabled:
    culler_service.update(
        command=[
            sys.executable, "-m", "culler",
            f"--config={launch.config.path or ''}",
            f"--ip={services_ip}",
            # the local GPU-idle signal reads which GPUs each workspace holds here
            f"--gpu-leases={launch.data.gpu_leases}",
        ],
        url=f"http://{services_host}:{culling.port}",
    )

# The workspaces API: acts on the hub with each caller's own token, so its own
# token needs no scopes; callers need access to it, which every user gets.
api_service = {
    "name": "workspaces",
    "display": True,  # the dashboard: listed in the hub's navigation for who may use it
    "command": [
        sys.executable, "-m", "workspaces.api",
        f"--config={launch.config.path or ''}",
        f"--data-dir={launch.data.path}",
        f"--ip={services_ip}",
        # on Kubernetes the pre-puller and the placeholders follow the catalog (and its edits)
        # from this process, which already does; each removes what it made when turned off
        *(
            f"--WorkspacesAPI.controllers={name}"
            for name in ("spawner.prepuller.keep_prepulled", "spawner.placeholders.keep_placeholders")
            if settings.backend == "kubernetes"
        ),
    ],
    "url": f"http://{services_host}:{settings.api.port}",
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


def land_on_the_dashboard(handler: "BaseHandler") -> str:
    """Where people go after logging in, and from / and /hub/: the dashboard, not the
    hub's spawn form. JupyterHub reads an explicit ?next= target before asking this."""
    service = handler.services.get(api_service["name"])
    # host: the service's own origin under hub.subdomain_host, port included (href drops it)
    return service.host + service.prefix if service is not None else handler.hub.base_url + "home"


c.JupyterHub.default_url = land_on_the_dashboard

# the culler's lean list of ready servers (a pass over 2,000 takes a tenth of what /users does)
c.JupyterHub.extra_handlers = [(READY_SERVERS_PATH, ReadyServersHandler)]

# Changing the image catalog through the API is what this scope allows; the
# admin users of workspaces.yaml have it (give it to others with a role). It is
# an admin's power: an image is the code other people's workspaces run.
c.JupyterHub.custom_scopes = {
    "custom:workspaces:catalog": {
        "description": "Add, change, deprecate and remove images of the Workspaces catalog: "
        "choose the code that other users' workspaces run."
    }
}
# Sharing a workspace (JupyterHub's shares and share codes): users may share
# their own workspaces where users are isolated from each other (see
# workspaces.sharing for each scope and why). The workspaces API shares with
# each caller's own token, so its own token gains nothing; without these scopes
# the hub itself refuses a share, whoever asks.
user_sharing_scopes = [] if sharing_refusal(settings, os.geteuid()) else list(USER_SHARING_SCOPES)
c.JupyterHub.load_roles = [
    {"name": "workspaces-culler", "description": "Stop idle workspaces", "scopes": CULLER_SCOPES, "services": ["culler"]},
    {"name": "user", "description": "Standard user privileges, and the workspaces API",
     "scopes": ["self", "access:services!service=workspaces", *user_sharing_scopes]},
    {"name": "workspaces-catalog-admins", "description": "Edit the image catalog through the workspaces API",
     "scopes": ["custom:workspaces:catalog", "access:services!service=workspaces"],
     "users": list(settings.auth.admin_users)},
]

if hub.extra_config:
    load_subconfig(str(launch.config.resolve(hub.extra_config)))  # noqa: F821
