"""The ``workspaces`` command.

``workspaces up`` starts the hub with the embedded default (local backend);
``workspaces config check FILE`` validates a configuration. Errors are one line
each on stderr, with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .catalog import load_catalog
from .config import load_config
from .errors import ConfigError
from .launch import HUB_CONFIG, Launch, LaunchError, check_ports_free, prepare, proxy_command


def _fail(lines: Sequence[str]) -> int:
    for line in lines:
        print(f"workspaces: error: {line}", file=sys.stderr)
    return 1


def _banner(launch: Launch) -> str:
    data = launch.data.path
    return "\n".join(
        [
            f"Workspaces is starting at {launch.url}",
            f"  Log in as    {launch.admin_user}",
            f"  Password     {launch.admin_password}   (kept in {data / 'admin-password'})",
            f"  Other users  an admin adds them at {launch.url}hub/admin; they log in with the",
            f"               user password in {data / 'user-password'}",
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "port", None) is not None and not 1 <= args.port <= 65535:
        parser.error("--port must be between 1 and 65535")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
