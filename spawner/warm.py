"""Warm local starts: per catalog image, a few processes that have already imported the server.

A cold start spends most of its seconds importing jupyter_server and JupyterLab.
A *warm process* (:mod:`spawner.warm_process`) has done that ahead, as the hub's
account, with only the variables a cold start takes from the hub. A start takes
one, sends it the workspace's request over its socket (0600 in the hub's 0700
folder), and it applies the workspace's limits, account, folder and environment
exactly as the cold start's ``preexec_fn`` does, then runs the cold start's argv.
A warm process serves one workspace, then is gone; the pool starts a new one in
the background once the taken server is up.

The pool is per image, not per (image, profile): the profile only decides
limits and variables, and those are applied after the take.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner

PROGRAM = Path(__file__).with_name("warm_process.py")
# The variables a cold start takes from the hub (the local spawners' default env_keep: PATH,
# LANG, PYTHONPATH, VIRTUAL_ENV, ...): never the hub's secrets.
START_ENV_KEYS = tuple(LocalProcessSpawner().env_keep)
# Read when the interpreter or jupyterhub.singleuser starts: a request that sets them
# differently from the warm process's start must start cold to be the same server.
_AT_IMPORT = ("PYTHON", "JUPYTERHUB_SINGLEUSER_", "LANG", "LC_")
# How long a start waits for the warm process to say it has become the workspace's.
ANSWER_TIMEOUT_S = 30.0

log = logging.getLogger(__name__)


class WarmStartFailed(Exception):
    """The warm process could not become the workspace's server: start cold."""


@dataclass
class WarmProcess:
    proc: subprocess.Popen
    socket_path: Path
    start_env: dict[str, str]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.socket_path.unlink(missing_ok=True)

    def differs_at_import(self, env: Mapping[str, str]) -> list[str]:
        """Variables read at interpreter start that the request sets otherwise."""
        keys = {k for k in (*env, *self.start_env) if k.startswith(_AT_IMPORT)}
        return sorted(k for k in keys if env.get(k) != self.start_env.get(k))

    async def become(self, request: dict[str, Any]) -> None:
        """Send the workspace's request; return once the process has become its server."""
        difference = self.differs_at_import(request["env"])
        if difference:
            raise WarmStartFailed(f"the workspace sets {', '.join(difference)}, read when Python starts")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.socket_path)), ANSWER_TIMEOUT_S
            )
            writer.write(json.dumps(request).encode())
            writer.write_eof()
            answer = await asyncio.wait_for(reader.read(), ANSWER_TIMEOUT_S)
            writer.close()
        except (OSError, asyncio.TimeoutError) as e:
            raise WarmStartFailed(f"no answer on {self.socket_path}: {e!r}") from None
        if answer != b"ok":
            raise WarmStartFailed(answer.decode(errors="replace") or f"exited with status {self.proc.poll()}")


@dataclass
class WarmPool:
    """``size`` warm processes of one image's ``python``, with sockets in ``folder``."""

    python: str
    size: int
    folder: Path
    processes: list[WarmProcess] = field(default_factory=list)

    def fill(self) -> None:
        """Start warm processes until there are ``size`` alive.

        On the hub's main thread: a warm process dies with the thread that started it.
        """
        for process in [p for p in self.processes if not p.alive()]:
            process.kill()  # reaps it and removes its socket
            self.processes.remove(process)
        while len(self.processes) < self.size:
            self.processes.append(self._start())

    def take(self) -> WarmProcess | None:
        """A warm process for one start, or None (the pool is off or empty)."""
        while self.processes:
            process = self.processes.pop(0)
            if process.alive():
                return process
            process.kill()
        return None

    def close(self) -> None:
        for process in self.processes:
            process.kill()
        self.processes = []

    def _start(self) -> WarmProcess:
        make_private_folder(self.folder)
        path = self.folder / f"warm-{secrets.token_hex(6)}.sock"
        env = {k: os.environ[k] for k in START_ENV_KEYS if k in os.environ}
        proc = subprocess.Popen(
            [self.python, str(PROGRAM), str(path), str(os.getpid())],
            env=env, stdin=None, start_new_session=True, close_fds=True,
        )
        log.info("Started warm process %d of %s", proc.pid, self.python)
        return WarmProcess(proc, path, env)


def make_private_folder(folder: Path) -> None:
    """The folder of the warm processes' sockets: the hub's account's alone (0700)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)


def remove_stale_sockets(folder: Path) -> None:
    """At hub start: sockets of a previous hub's warm processes, which died with it (SIGKILL leaves them)."""
    for path in folder.glob("warm-*.sock"):
        path.unlink(missing_ok=True)


# One set of pools per hub process, keyed by image id and runtime.
_pools: dict[tuple[str, str], WarmPool] = {}


def pool_for(image: str, python: str, size: int, folder: Path) -> WarmPool:
    """The pool of ``image`` run by ``python``, resized to ``size`` (a catalog edit may change it)."""
    key = (image, python)
    pool = _pools.get(key)
    if pool is None:
        pool = _pools[key] = WarmPool(python, size, folder)
    pool.size = size
    if len(pool.processes) > size:
        for process in pool.processes[size:]:
            process.kill()
        del pool.processes[size:]
    return pool


def close_all() -> None:
    for pool in _pools.values():
        pool.close()
    _pools.clear()


def is_python_runtime(argv: list[str]) -> bool:
    """Whether a runtime is ``<python> -m jupyterhub.singleuser``: the one a warm process can be."""
    return argv[1:3] == ["-m", "jupyterhub.singleuser"]


# the hub exiting normally: its idle warm processes go with it (PDEATHSIG covers a crash)
atexit.register(close_all)

