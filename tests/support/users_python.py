"""A Python that every OS account can run, with the tests' packages.

The tests' hubs run as root, so their workspaces run as their users' own OS
accounts, with the users' environment the hub makes (spawner.users_env). Test
programs that run as such an account (a stand-in server, a hub run without
root) use the same interpreter.
"""

from __future__ import annotations

import sys

from spawner.users_env import users_python as _users_env


def users_python() -> str:
    return _users_env() or sys.executable
