"""One OS account per hub user, which the local backend runs that user's workspaces as.

As in The Littlest JupyterHub: the account of hub user ``alice`` is
``jupyter-alice``, made with ``useradd`` the first time one of her workspaces
starts, and never deleted (a deleted account's uid could go to someone else,
who would then own her old files). The hub user's name is escaped into
``[a-z0-9-]`` by :func:`workspaces.naming.workspace_name`, so two hub users
never share an account, and a name that would make the account longer than
the 32 characters ``useradd`` accepts is cut and ends in a hash of the full name.

The account is a system account of its own group, with no home folder (HOME is
the workspace folder) and no login shell. An account of that name that exists
already is used as it is, unless it is root's uid or group.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from workspaces.naming import workspace_name

PREFIX = "jupyter-"
MAX_ACCOUNT_NAME = 32  # useradd's limit on Linux
NO_LOGIN = next((s for s in ("/usr/sbin/nologin", "/sbin/nologin") if os.path.exists(s)), "/bin/false")
EXISTS = 9  # useradd's exit status for a name that is taken: another start made it first


class AccountError(Exception):
    """The account cannot be made or must not be used (one line, for the user and the log)."""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


def account_name(user: str) -> str:
    """The OS account of hub user ``user``: ``jupyter-`` and the escaped name, at most 32 characters."""
    return PREFIX + workspace_name(user, "", MAX_ACCOUNT_NAME - len(PREFIX))


def _usable(entry: pwd.struct_passwd) -> Account:
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise AccountError(f"the OS account {entry.pw_name} has root's uid or group; workspaces never run as root")
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


# one useradd at a time in this hub: two starts of one user's workspaces would race
_lock = asyncio.Lock()


async def ensure_account(user: str) -> Account:
    """The account of hub user ``user``, made first if it does not exist."""
    name = account_name(user)
    async with _lock:
        try:
            return _usable(pwd.getpwnam(name))
        except KeyError:
            pass
        useradd = shutil.which("useradd") or shutil.which("useradd", path="/usr/sbin:/sbin")
        if useradd is None:
            raise AccountError("useradd is not installed (Debian: the passwd package); it makes the workspaces' OS accounts")
        proc = await asyncio.create_subprocess_exec(
            useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
            "--shell", NO_LOGIN, "--comment", "Workspaces user", name,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await proc.communicate()
        if proc.returncode not in (0, EXISTS):
            raise AccountError(f"useradd {name} failed: {output.decode(errors='replace').strip()}")
        try:
            return _usable(pwd.getpwnam(name))
        except KeyError:
            raise AccountError(f"useradd {name} succeeded but the account cannot be found") from None


def blocked_for_others(path: str | os.PathLike[str]) -> Path | None:
    """What stops an unrelated account from entering folder ``path`` or running program ``path``:
    the first folder on the way it cannot pass, or ``path`` itself; None if nothing does.

    Symlinks are followed, as chdir and exec follow them.
    """
    target = Path(os.path.realpath(path))
    for step in [*reversed(target.parents), target]:
        if not step.stat().st_mode & stat.S_IXOTH:
            return step
    return None


def describe_block(path: str | os.PathLike[str], blocked: Path) -> str:
    mode = stat.filemode(blocked.stat().st_mode)
    return f"{path} cannot be reached by other accounts: {blocked} is {mode}"
