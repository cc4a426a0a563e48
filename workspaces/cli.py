"""The ``workspaces`` command.

``workspaces up`` starts the hub with the embedded default (local backend);
``workspaces config check FILE`` validates a configuration. The other commands
(``login``, ``create``, ``list``, ``show``, ``start``, ``stop``, ``keepalive``, ``delete``,
``images``, ``profiles``, ``namespaces``) talk to a running hub through the REST
API with :mod:`workspaces.client`, as the user saved by ``workspaces login``.
Errors are one line each on stderr, with a non-zero exit code (2 for usage
errors), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .catalog import load_catalog
from .config import _duration, load_config
from .errors import ConfigError
from .launch import HUB_CONFIG, Launch, LaunchError, check_ports_free, prepare, proxy_command

if TYPE_CHECKING:  # the client (and its HTTP library) is imported when an API command runs
    from .client import Client, Image, ProgressEvent, Workspace


def _fail(lines: Sequence[str]) -> int:
    for line in lines:
        print(f"workspaces: error: {line}", file=sys.stderr)
    return 1


def _login_lines(launch: Launch) -> list[str]:
    """How the first people get in, for the auth type of the config."""
    auth = launch.config.settings.auth
    data = launch.data.path
    hub = f"{launch.url}hub"
    kept = "set in the config file" if auth.admin_password else f"kept in {data / 'admin-password'}"
    if auth.type == "native":
        return [
            f"  Log in as    {launch.admin_user}",
            f"  Password     {launch.admin_password}   (the first password, {kept};",
            f"               change it at {hub}/change-password)",
            f"  Other users  sign up at {hub}/signup with their own password; an admin approves",
            f"               them at {hub}/authorize",
        ]
    if auth.type == "shared-password":
        return [
            f"  Log in as    {launch.admin_user}",
            f"  Password     {launch.admin_password}   ({kept})",
            f"  Other users  an admin adds them at {hub}/admin; they log in with the shared",
            f"               user password in {data / 'user-password'} (workshop mode)",
        ]
    if auth.oidc is not None:
        return [f"  Log in at    {auth.oidc.issuer} (OpenID Connect); admins: {', '.join(auth.admin_users)}"]
    assert auth.header is not None, "auth.type header without auth.header passed the config check"
    return [f"  Log in       through the gateway that names the user in {auth.header.user_header}"]


def _banner(launch: Launch) -> str:
    data = launch.data.path
    return "\n".join(
        [
            f"Workspaces is starting at {launch.url}",
            *_login_lines(launch),
            f"  Data         {data}",
            f"  Config       {launch.config.path or '(built-in defaults)'}",
            "Stop with Ctrl-C; running workspaces keep running and are found again on the next start.",
            "",
        ]
    )


def cmd_up(args: argparse.Namespace) -> int:
    try:
        launch = prepare(args.config, args.data_dir, args.port)
        proxy_command()
        check_ports_free(launch)
    except ConfigError as e:
        return _fail(e.lines())
    except LaunchError as e:
        return _fail([str(e)])
    print(_banner(launch), flush=True)
    env = dict(os.environ)
    env["WORKSPACES_CONFIG"] = str(launch.config.path or "")
    env["WORKSPACES_DATA_DIR"] = str(launch.data.path)
    env["WORKSPACES_PORT"] = str(launch.port)
    argv = [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)]
    # exec: the hub gets our PID, so Ctrl-C and kill reach it directly.
    os.execve(sys.executable, argv, env)
    return 0  # not reached


def cmd_config_check(args: argparse.Namespace) -> int:
    try:
        loaded = load_config(args.file)
        catalog = load_catalog(loaded)
    except ConfigError as e:
        return _fail(e.lines())
    print(
        f"{args.file}: OK (backend {loaded.settings.backend}, "
        f"{len(catalog.images)} images, {len(catalog.profiles)} profiles)"
    )
    return 0


# -- commands that talk to a hub through the REST API ---------------------------
#
# They read the hub URL and token from --url/--token, else $WORKSPACES_URL and
# $WORKSPACES_TOKEN, else the file `workspaces login` wrote. The client module is
# imported on first use, so `up` and `config check` do not need an HTTP client.


class CommandError(Exception):
    """A one-line error of an API command (exit code 1)."""


NOT_LOGGED_IN = (
    "not logged in; run `workspaces login URL` first (or set WORKSPACES_URL and WORKSPACES_TOKEN)"
)


def login_file() -> Path:
    """``$XDG_CONFIG_HOME/workspaces/login.json`` (default ``~/.config/workspaces/login.json``)."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "workspaces" / "login.json"


def read_login() -> dict[str, str]:
    """The saved login (``url`` and ``token``), or ``{}`` when there is none."""
    path = login_file()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise CommandError(f"cannot read {path}: {e.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("url", "token")):
        raise CommandError(f"{path} is not a login file; run `workspaces login URL` again")
    return {"url": data["url"], "token": data["token"]}


def save_login(url: str, token: str) -> Path:
    """Write the login file, readable by its owner only (the folder 0700, the file 0600)."""
    path = login_file()
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    temporary = folder / f".login.json.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            json.dump({"url": url, "token": token}, f)
            f.write("\n")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _credentials(args: argparse.Namespace) -> tuple[str, str]:
    url = getattr(args, "url", None) or os.environ.get("WORKSPACES_URL")
    token = getattr(args, "token", None) or os.environ.get("WORKSPACES_TOKEN")
    if not (url and token):
        saved = read_login()
        if token is None and url and saved and url.rstrip("/") != saved["url"].rstrip("/"):
            # never send the token saved for one hub to another
            raise CommandError(f"no token for {url}: pass --token, set WORKSPACES_TOKEN or run `workspaces login {url}`")
        url = url or saved.get("url")
        token = token or saved.get("token")
    if not (url and token):
        raise CommandError(NOT_LOGGED_IN)
    return url, token


def _client(url: str, token: str) -> Client:
    from .client import Client

    try:
        return Client(url, token)
    except ValueError as e:
        raise CommandError(str(e)) from None


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) if c not in (None, "") else "-" for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def _ago(when: datetime | None, now: datetime | None = None) -> str:
    """A compact age: ``just now``, ``5m ago``, ``3h ago``, ``2d ago``; ``-`` for none."""
    if when is None:
        return "-"
    seconds = ((now or datetime.now(timezone.utc)) - when).total_seconds()
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"  # not reached


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z") if value else "-"


class ProgressDisplay:
    """Progress events on stderr: a bar redrawn in place on a TTY, else one line per change."""

    WIDTH = 24

    def __init__(self, label: str, stream: Any = None):
        self.stream = stream or sys.stderr
        self.label = label
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last: tuple[int | None, str] | None = None
        self.drawn = False
        self.ready = False

    def __call__(self, event: ProgressEvent) -> None:
        self.ready = self.ready or bool(event.ready)
        key = (event.progress, event.message)
        if key == self.last:
            return
        self.last = key
        percent = max(0, min(100, event.progress)) if event.progress is not None else None
        message = " ".join((event.message or "").split())
        if self.tty:
            filled = (percent or 0) * self.WIDTH // 100
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            shown = f"{percent:3d}%" if percent is not None else "   ?"
            line = f"{self.label} [{bar}] {shown} {message}"
            columns = shutil.get_terminal_size((80, 24)).columns
            line = line[: max(10, columns - 1)]
            self.stream.write("\r" + line + "\x1b[K")
            self.drawn = True
        else:
            shown = f"{percent:3d}%" if percent is not None else "   ?"
            self.stream.write(f"{self.label}: {shown} {message}".rstrip() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def _owner(args: argparse.Namespace, client: Client) -> str:
    return getattr(args, "owner", None) or client.whoami()


def _wait(client: Client, ws: Workspace, args: argparse.Namespace, display: ProgressDisplay | None = None) -> Workspace:
    from .client import ProgressEvent

    from .client import StartFailed

    if ws.state == "failed":
        raise StartFailed(ws.owner, ws.name, ws.failure_reason or "the start failed")
    display = display or ProgressDisplay(f"{ws.owner}/{ws.name}")
    try:
        ready = client.wait_ready(ws.owner, ws.name, on_event=display, timeout=args.timeout)
        if not display.ready:
            display(ProgressEvent(100, "Ready", ready=True))
        return ready
    finally:
        display.close()


def _requested(args: argparse.Namespace, name: str, owner: str | None) -> ProgressDisplay | None:
    """With --wait: a display that says at once that the start was asked for (the API answers
    once the hub has started the server or handed the start to the background)."""
    if not args.wait:
        return None
    from .client import ProgressEvent

    display = ProgressDisplay(f"{owner}/{name}" if owner else name)
    display(ProgressEvent(0, "Requested"))
    return display


def _report_running(client: Client, ws: Workspace, args: argparse.Namespace) -> int:
    return _report(ws, args, f"{ws.owner}/{ws.name} is running at {client.workspace_url(ws)}")


def _report(ws: Workspace, args: argparse.Namespace, text: str) -> int:
    """The workspace as JSON with --json, else one line."""
    if args.json:
        _print_json(ws.raw)
    else:
        print(text)
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    import getpass
    import warnings

    from .client import APIError

    url = args.hub_url or os.environ.get("WORKSPACES_URL")
    if not url:
        try:
            url = read_login().get("url")
        except CommandError:
            url = None
    if not url:
        raise CommandError("give the hub's URL: workspaces login URL")
    url = url.strip().rstrip("/")
    token = args.token or os.environ.get("WORKSPACES_TOKEN")
    if not token:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # getpass without a terminal reads stdin, and says so
                token = getpass.getpass(f"API token for {url} (make one at {url}/hub/token): ", stream=sys.stderr)
        except EOFError:
            token = ""
        token = token.strip()
    if not token:
        raise CommandError("no token given; pass --token or set WORKSPACES_TOKEN")
    client = _client(url, token)
    try:
        client.list_images()
    except APIError as e:
        if e.status in (401, 403):
            raise CommandError(f"the hub at {url} refused the token: {e}") from None
        raise
    try:
        who = f" as {client.whoami()}"
    except Exception:  # the name is only for the greeting
        who = ""
    path = save_login(url, token)
    print(f"Logged in to {url}{who}; saved in {path}")
    return 0


def cmd_create(args: argparse.Namespace, client: Client) -> int:
    display = _requested(args, args.name, args.owner)
    try:
        ws = client.create_workspace(
            args.name,
            image=args.image,
            custom_image=args.custom_image,
            profile=args.profile,
            gpus=args.gpus,
            storage=args.storage,
            namespace=args.namespace,
            owner=args.owner,
        )
        if args.wait:
            if ws.state in ("stopped", "stopping") and not ws.newly_created:
                owner = f" --owner {ws.owner}" if args.owner else ""
                raise CommandError(
                    f"workspace {ws.owner}/{ws.name} already exists and is {ws.state}; "
                    f"start it with `workspaces start {ws.name}{owner}`"
                )
            return _report_running(client, _wait(client, ws, args, display), args)
    finally:
        if display is not None:
            display.close()
    if ws.newly_created:
        return _report(ws, args, f"Created workspace {ws.owner}/{ws.name} ({ws.state})")
    return _report(ws, args, f"Workspace {ws.owner}/{ws.name} already exists ({ws.state})")


def cmd_list(args: argparse.Namespace, client: Client) -> int:
    found = list(
        client.list_workspaces(
            owner=args.owner, namespace=args.namespace, state=args.state, image=args.image, profile=args.profile
        )
    )
    if args.json:
        _print_json({"items": [w.raw for w in found]})
        return 0
    if not found:
        print("No workspaces found.", file=sys.stderr)
        return 0
    now = datetime.now(timezone.utc)
    _table(
        ["OWNER", "NAME", "STATE", "IMAGE", "PROFILE", "GPUS", "NAMESPACE", "LAST-ACTIVITY", "WARNING"],
        [
            [w.owner, w.name, w.state, w.spec.image, w.spec.profile, w.gpus, w.namespace, _ago(w.last_activity, now),
             _warning(w)]
            for w in found
        ],
    )
    return 0


def _warning(ws: Workspace) -> str:
    """A coming stop, in a few words: ``stops in 9m (idle)``; ``-`` for none."""
    warning = ws.cull_warning
    if warning is None:
        return "-"
    minutes, seconds = divmod(warning.seconds_left, 60)
    return f"stops in {minutes}m{seconds:02d}s ({warning.reason})" if minutes < 60 else f"stops in {minutes // 60}h ({warning.reason})"


def cmd_show(args: argparse.Namespace, client: Client) -> int:
    ws = client.get_workspace(_owner(args, client), args.name)
    if args.json:
        _print_json(ws.raw)
        return 0
    volumes = ", ".join(f"{v.claim}:{v.mount_path}{' (read-only)' if v.read_only else ''}" for v in ws.spec.volumes)
    rows = [
        ("Workspace", f"{ws.owner}/{ws.name}"),
        ("State", ws.state + (f" ({ws.failure_reason})" if ws.failure_reason else "")),
        ("URL", client.workspace_url(ws) if ws.url else "-"),
        ("Image", ws.spec.image or "-"),
        ("Profile", ws.spec.profile or "-"),
        ("GPUs", str(ws.gpus)),
        ("Namespace", ws.namespace or "-"),
        ("Storage", ws.spec.storage or "-"),
        ("Volumes", volumes or "-"),
        ("PodDefaults", ", ".join(ws.spec.pod_defaults) or "-"),
        ("Revision", ws.revision),
        ("Restart pending", "yes" if ws.restart_pending else "no"),
        ("Created", _when(ws.created)),
        ("Started", _when(ws.started)),
        ("Last activity", _when(ws.last_activity)),
        ("Stops at", _when(ws.cull_at) + (f" ({_warning(ws)})" if ws.cull_warning else "")),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    return 0


def cmd_start(args: argparse.Namespace, client: Client) -> int:
    owner = _owner(args, client)
    display = _requested(args, args.name, owner)
    try:
        ws = client.start_workspace(owner, args.name)
        if args.wait:
            return _report_running(client, _wait(client, ws, args, display), args)
    finally:
        if display is not None:
            display.close()
    if ws.state == "running":
        return _report_running(client, ws, args)
    return _report(ws, args, f"Starting {ws.owner}/{ws.name} ({ws.state})")


def cmd_stop(args: argparse.Namespace, client: Client) -> int:
    ws = client.stop_workspace(_owner(args, client), args.name)
    if ws.state == "stopped":
        return _report(ws, args, f"Stopped {ws.owner}/{ws.name}")
    return _report(ws, args, f"Stopping {ws.owner}/{ws.name} ({ws.state})")


def cmd_keepalive(args: argparse.Namespace, client: Client) -> int:
    ws = client.keepalive_workspace(_owner(args, client), args.name)
    return _report(ws, args, f"Kept {ws.owner}/{ws.name} running; it stops at {_when(ws.cull_at)} at the earliest")


def cmd_delete(args: argparse.Namespace, client: Client) -> int:
    owner = _owner(args, client)
    label = f"{owner}/{args.name}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError(f"refusing to delete {label} without confirmation; pass --yes")
        sys.stderr.write(f"Delete workspace {label} and its storage? [y/N] ")
        sys.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print(f"Not deleted; {label} is kept.", file=sys.stderr)
            return 1
    deletion = client.delete_workspace(owner, args.name)
    if args.json:
        _print_json({"owner": deletion.owner, "name": deletion.name, "state": deletion.state})
    elif deletion.done:
        print(f"Deleted {label}")
    else:
        print(f"Deleting {label}")
    return 0


# -- sharing --


def _workspace_ref(args: argparse.Namespace, client: Client) -> tuple[str, str]:
    """OWNER/NAME, or NAME for one's own workspace."""
    owner, slash, name = args.workspace.rpartition("/")
    if slash and not (owner and name):
        raise CommandError(f"name the workspace as OWNER/NAME or NAME, not {args.workspace!r}")
    return owner or client.whoami(), name


def cmd_share(args: argparse.Namespace, client: Client) -> int:
    owner, name = _workspace_ref(args, client)
    if args.code:
        try:
            expires = int(_duration(args.expires))
        except ValueError as e:
            raise CommandError(f"--expires {e}") from None
        code = client.share_code(owner, name, expires_in=expires)
        if args.json:
            _print_json({**code.raw, "accept_url": code.accept_url})
        else:
            print(f"Anyone logged in who opens this link until {_when(code.expires)} gets access to {owner}/{name}:")
            print(code.accept_url)
        return 0
    share = client.share(owner, name, user=args.user, group=args.group)
    if args.json:
        _print_json({"kind": share.kind, "name": share.name})
    else:
        print(f"Shared {owner}/{name} with {share.kind} {share.name}")
    return 0


def cmd_unshare(args: argparse.Namespace, client: Client) -> int:
    owner, name = _workspace_ref(args, client)
    client.unshare(owner, name, user=args.user, group=args.group, code=args.code, all=args.all)
    whom = f"user {args.user}" if args.user else f"group {args.group}" if args.group else f"code {args.code}" if args.code else "everyone"
    print(f"Revoked {whom}'s access to {owner}/{name}")
    return 0


def cmd_shares(args: argparse.Namespace, client: Client) -> int:
    owner, name = _workspace_ref(args, client)
    shares = client.shares(owner, name)
    if args.json:
        _print_json({"shares": [{"kind": s.kind, "name": s.name} for s in shares.shares], "codes": [c.raw for c in shares.codes]})
        return 0
    rows = [[s.kind, s.name, ""] for s in shares.shares] + [["code", c.id, f"expires {_when(c.expires)}, used {c.uses}x"] for c in shares.codes]
    if not rows:
        print(f"{owner}/{name} is shared with nobody.", file=sys.stderr)
        return 0
    _table(["KIND", "WHO", "NOTE"], rows)
    return 0


def cmd_shared(args: argparse.Namespace, client: Client) -> int:
    items = client.shared_with_me()
    if args.json:
        _print_json([{"owner": i.owner, "name": i.name, "url": client.workspace_url(i.url), "ready": i.ready} for i in items])
        return 0
    if not items:
        print("Nobody has shared a workspace with you.", file=sys.stderr)
        return 0
    _table(["WORKSPACE", "STATE", "URL"], [[f"{i.owner}/{i.name}", "running" if i.ready else "stopped", client.workspace_url(i.url)] for i in items])
    return 0


# -- images, profiles, namespaces --

_IMAGE_OUTPUT_ONLY = ("available", "unavailable_reason", "successor", "kind_info", "kind_env")


def _image_entry(args: argparse.Namespace, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The catalog entry of ``images add/update``: ``--file`` (else ``base``), then the flags."""
    if args.file:
        try:
            with open(args.file) as f:
                loaded = yaml.safe_load(f)
        except OSError as e:
            raise CommandError(f"cannot read {args.file}: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise CommandError(f"{args.file}: not valid YAML: {' '.join(str(e).split())}") from None
        if not isinstance(loaded, dict):
            raise CommandError(f"{args.file}: must hold one catalog entry (a mapping with id, display_name, image)")
        entry = dict(loaded)
    else:
        entry = {k: v for k, v in (base or {}).items() if k not in _IMAGE_OUTPUT_ONLY}
        if entry.get("deprecated") is None:
            entry.pop("deprecated", None)
        elif (base or {}).get("successor"):
            # the output's message and successor are the catalog's deprecated: {message, use}
            entry["deprecated"] = {"message": entry["deprecated"], "use": (base or {})["successor"]}
    for key, value in (
        ("id", args.id),
        ("display_name", args.display_name),
        ("image", args.image),
        ("kind", args.kind),
        ("gpu", args.gpu),
        ("description", args.description),
    ):
        if value is not None:
            entry[key] = value
    if args.groups is not None:
        entry["groups"] = [g.strip() for g in args.groups.split(",") if g.strip()]
    return entry


def _print_image(image: Image, args: argparse.Namespace, verb: str) -> None:
    if args.json:
        _print_json(image.raw)
    else:
        print(f"{verb} image {image.id}")


def cmd_images_list(args: argparse.Namespace, client: Client) -> int:
    images = client.list_images()
    if args.json:
        _print_json({"items": [i.raw for i in images]})
        return 0
    _table(
        ["ID", "DISPLAY-NAME", "KIND", "GPU", "DEFAULT", "AVAILABLE", "DEPRECATED"],
        [
            [
                i.id,
                i.display_name,
                i.kind,
                "yes" if i.gpu else "no",
                "yes" if i.default else "no",
                "yes" if i.available else "no",
                i.deprecated,
            ]
            for i in images
        ],
    )
    return 0


def cmd_images_show(args: argparse.Namespace, client: Client) -> int:
    image = client.get_image(args.image_id)
    if args.json:
        _print_json(image.raw)
        return 0
    rows = [
        ("ID", image.id),
        ("Display name", image.display_name),
        ("Description", image.description or "-"),
        ("Image", image.image),
        ("Kind", image.kind),
        ("GPU", "yes" if image.gpu else "no"),
        ("Default", "yes" if image.default else "no"),
        ("Available", "yes" if image.available else f"no: {image.unavailable_reason or 'unavailable'}"),
        ("Deprecated", image.deprecated or "-"),
        ("Replaced by", image.successor or "-"),
    ]
    if image.groups is not None:
        rows.append(("Groups", ", ".join(image.groups) or "(everyone)"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    return 0


def cmd_images_add(args: argparse.Namespace, client: Client) -> int:
    _print_image(client.add_image(_image_entry(args)), args, "Added")
    return 0


def cmd_images_update(args: argparse.Namespace, client: Client) -> int:
    image_id = args.image_id or args.id
    if not image_id and args.file:
        image_id = _image_entry(args).get("id")
    if not image_id:
        raise CommandError("name the image to update: workspaces images update ID")
    base = None if args.file else client.get_image(image_id).raw
    entry = _image_entry(args, base)
    entry.setdefault("id", image_id)
    _print_image(client.update_image(image_id, entry), args, "Updated")
    return 0


def cmd_images_deprecate(args: argparse.Namespace, client: Client) -> int:
    _print_image(client.deprecate_image(args.image_id, args.message, use=args.use), args, "Deprecated")
    return 0


def cmd_images_remove(args: argparse.Namespace, client: Client) -> int:
    client.remove_image(args.image_id)
    if args.json:
        _print_json({"id": args.image_id, "state": "removed"})
    else:
        print(f"Removed image {args.image_id}")
    return 0


def cmd_profiles_list(args: argparse.Namespace, client: Client) -> int:
    profiles = client.list_profiles()
    if args.json:
        _print_json({"items": [p.raw for p in profiles]})
        return 0
    _table(
        ["ID", "DISPLAY-NAME", "SUMMARY", "GPUS", "MAX-GPUS", "DEFAULT", "NOW"],
        [[p.id, p.display_name, p.summary, p.gpus, p.max_gpus, "yes" if p.default else "no", p.capacity or "-"]
         for p in profiles],
    )
    return 0


def cmd_namespaces_list(args: argparse.Namespace, client: Client) -> int:
    namespaces = client.list_namespaces()
    if args.json:
        _print_json(namespaces.raw)
        return 0
    if not namespaces.items:
        print(f"No namespaces (the hub runs the {namespaces.backend} backend).", file=sys.stderr)
        return 0
    _table(["NAME", "ROLE"], [[n.name, n.role] for n in namespaces.items])
    return 0


def _run_api_command(args: argparse.Namespace) -> int:
    """Run an API command; every error becomes one line on stderr and exit code 1."""
    from .client import APIError, ClientError

    try:
        if args.handler is cmd_login:
            return cmd_login(args)
        url, token = _credentials(args)
        client = _client(url, token)
        try:
            return args.handler(args, client)
        finally:
            client.close()
    except CommandError as e:
        return _fail([str(e)])
    except APIError as e:
        message = str(e)
        if e.status == 401:
            message += "; run `workspaces login` with a valid token"
        return _fail([message])
    except (ClientError, TimeoutError) as e:
        return _fail([str(e)])
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except OSError as e:
        return _fail([f"{e.filename}: {e.strerror}" if e.filename else str(e)])
    except Exception as e:  # never a traceback; WORKSPACES_DEBUG=1 shows it
        if os.environ.get("WORKSPACES_DEBUG"):
            raise
        return _fail([f"unexpected {type(e).__name__}: {e} (WORKSPACES_DEBUG=1 shows where)"])


def _add_api_commands(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the hub's URL (default: $WORKSPACES_URL, else the saved login)")
    common.add_argument("--token", help="a JupyterHub API token (default: $WORKSPACES_TOKEN, else the saved login)")
    common.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")

    def command(parent: Any, name: str, handler: Any, help: str) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help, description=help, parents=[common])
        p.set_defaults(api=True, handler=handler)
        return p

    def waiting(p: argparse.ArgumentParser) -> None:
        p.add_argument("--wait", action="store_true", help="follow the start with a progress bar until it runs")
        p.add_argument("--timeout", type=float, default=300, help="seconds --wait waits (default 300)")

    login = sub.add_parser(
        "login",
        help="check a token against a hub and save both for the other commands",
        description="Check the token against the hub's API and save the URL and token in "
        "$XDG_CONFIG_HOME/workspaces/login.json (default ~/.config/workspaces/login.json, mode 0600).",
    )
    login.add_argument("hub_url", nargs="?", metavar="URL", help="the hub's URL, e.g. http://127.0.0.1:8000")
    login.add_argument("--token", help="a JupyterHub API token (default: $WORKSPACES_TOKEN, else asked for)")
    login.set_defaults(api=True, handler=cmd_login)

    create = command(sub, "create", cmd_create, "create a workspace and start it")
    create.add_argument("name")
    create.add_argument("--image", help="a catalog image id (default: the catalog's default)")
    create.add_argument(
        "--custom-image", metavar="REFERENCE", help="an image reference instead, where the catalog's custom_images allow it"
    )
    create.add_argument("--profile", help="a profile id (default: the default profile)")
    create.add_argument("--gpus", type=int, help="GPU count override")
    create.add_argument("--storage", help="storage size, e.g. 20Gi (Kubernetes backend)")
    create.add_argument("--namespace", help="Kubernetes namespace (Kubernetes backend)")
    create.add_argument("--owner", help="whose workspace (admins; default: you)")
    waiting(create)

    listing = command(sub, "list", cmd_list, "list workspaces")
    for option in ("owner", "state", "image", "profile", "namespace"):
        listing.add_argument(f"--{option}", help=f"only workspaces with this {option}")

    def one_workspace(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        p = command(sub, name, handler, help_text)
        p.add_argument("name")
        p.add_argument("--owner", help="whose workspace (default: you)")
        return p

    one_workspace("show", cmd_show, "show a workspace")
    waiting(one_workspace("start", cmd_start, "start a stopped workspace"))
    one_workspace("stop", cmd_stop, "stop a workspace (its storage is kept)")
    one_workspace("keepalive", cmd_keepalive, "keep a running workspace running: it stops one idle timeout from now")
    delete = one_workspace("delete", cmd_delete, "delete a workspace and its storage")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    def shared_with(name: str, handler: Any, help: str) -> tuple[argparse.ArgumentParser, Any]:
        """A share command: the workspace, then exactly one of --user, --group, --code, ..."""
        parser = command(sub, name, handler, help)
        parser.add_argument("workspace", metavar="OWNER/NAME", help="the workspace (NAME alone: yours)")
        whom = parser.add_mutually_exclusive_group(required=True)
        whom.add_argument("--user", help="a user's name")
        whom.add_argument("--group", help="a group's name")
        return parser, whom

    share, whom = shared_with("share", cmd_share, "give a user or a group access to a workspace, or make a share link")
    whom.add_argument("--code", action="store_true", help="a link that gives access to who opens it")
    share.add_argument("--expires", default="1d", help="how long a --code link works: 3600, 30m, 1h, 7d (default 1d)")
    _, whom = shared_with("unshare", cmd_unshare, "revoke access to a workspace")
    whom.add_argument("--code", metavar="ID", help="a share code's id (sc_..., from `workspaces shares`)")
    whom.add_argument("--all", action="store_true", help="every user, group and code")
    command(sub, "shares", cmd_shares, "who else has access to a workspace").add_argument(
        "workspace", metavar="OWNER/NAME", help="the workspace (NAME alone: yours)"
    )
    command(sub, "shared", cmd_shared, "workspaces others shared with you")

    images = sub.add_parser("images", help="the image catalog")
    images_sub = images.add_subparsers(dest="images_command", required=True, metavar="COMMAND")
    command(images_sub, "list", cmd_images_list, "list the images you may use (admins: all)")
    command(images_sub, "show", cmd_images_show, "show an image").add_argument("image_id", metavar="ID")

    def entry_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--file", "-f", help="a YAML file with the catalog entry")
        p.add_argument("--id", help="the image id")
        p.add_argument("--display-name")
        p.add_argument("--image", help="the image reference, e.g. quay.io/jupyter/scipy-notebook:2025-10-20")
        p.add_argument("--kind", choices=["jupyterlab", "vscode", "rstudio"])
        p.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=None, help="GPU support")
        p.add_argument("--description")
        p.add_argument("--groups", help="comma-separated groups that may use it (empty: everyone)")

    entry_options(command(images_sub, "add", cmd_images_add, "add an image to the catalog (admin)"))
    update = command(images_sub, "update", cmd_images_update, "change an image of the catalog (admin)")
    update.add_argument("image_id", nargs="?", metavar="ID")
    entry_options(update)
    deprecate = command(images_sub, "deprecate", cmd_images_deprecate, "deprecate an image (admin)")
    deprecate.add_argument("image_id", metavar="ID")
    deprecate.add_argument("--message", "-m", required=True, help="what users see, e.g. 'Use lab-2025 instead.'")
    deprecate.add_argument("--use", metavar="ID", help="the image that replaces it: workspaces are offered the switch")
    command(images_sub, "remove", cmd_images_remove, "remove an image from the catalog (admin)").add_argument(
        "image_id", metavar="ID"
    )

    profiles = sub.add_parser("profiles", help="hardware profiles")
    profiles_sub = profiles.add_subparsers(dest="profiles_command", required=True, metavar="COMMAND")
    command(profiles_sub, "list", cmd_profiles_list, "list the profiles you may use")

    namespaces = sub.add_parser("namespaces", help="Kubernetes namespaces")
    namespaces_sub = namespaces.add_subparsers(dest="namespaces_command", required=True, metavar="COMMAND")
    command(namespaces_sub, "list", cmd_namespaces_list, "list the namespaces you may create workspaces in")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workspaces", description="Notebook workspaces on JupyterHub.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start the hub (local backend by default)")
    up.add_argument("--port", type=int, help="public port (default: hub.port in the config, 8000)")
    up.add_argument("--data-dir", help="database, secrets and workspace folders (default: ./data)")
    up.add_argument("--config", help="workspaces.yaml (default: $WORKSPACES_CONFIG or config/workspaces.yaml)")
    up.set_defaults(func=cmd_up)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    check = config_sub.add_parser("check", help="validate a workspaces.yaml and the catalog it names")
    check.add_argument("file")
    check.set_defaults(func=cmd_config_check)

    _add_api_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "port", None) is not None and not 1 <= args.port <= 65535:
        parser.error("--port must be between 1 and 65535")
    if getattr(args, "api", False):
        return _run_api_command(args)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
