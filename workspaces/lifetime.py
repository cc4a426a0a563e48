"""Hub services end with the hub that started them, and end at once when asked.

A hub that dies (SIGKILL, OOM) cannot stop its managed services; one left
running would hold its port and a restarted hub could not start a fresh one.

A hub that is stopped (Ctrl-C, SIGTERM) stops its services one after another,
each with SIGINT, then SIGTERM after 10 s, then SIGKILL after 5 more, and only
then stops itself: a service must therefore end within a fraction of a second
of either signal, or Ctrl-C waits on it.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import gc
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop, PeriodicCallback

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long a stopping service gives its clients to close and its tasks to end.
CLOSE_TIMEOUT_S = 1.0


def die_with_parent(log: logging.Logger, what: str, stop: Callable[[], None]) -> None:
    """SIGTERM when the parent (the hub) dies, through Linux's prctl, and a
    getppid check every second as a fallback elsewhere, which calls ``stop``."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before the call took effect
            os.kill(os.getpid(), signal.SIGTERM)

    def exit_if_orphaned() -> None:
        if os.getppid() != parent:
            log.warning("The hub (pid %d) is gone; %s stops too", parent, what)
            stop()

    PeriodicCallback(exit_if_orphaned, 1000).start()


def serve_until_stopped(
    log: logging.Logger,
    what: str,
    servers: Iterable[HTTPServer],
    close: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run the loop until SIGINT, SIGTERM or the hub's death, then stop cleanly
    and fast: stop accepting, cancel what is in flight, ``close`` (the service's
    HTTP clients), and return for the process to exit."""
    loop = IOLoop.current()
    servers = list(servers)
    stopping = False

    async def stop_now() -> None:
        for server in servers:
            server.stop()
        # Cancelled here rather than destroyed pending at exit, which asyncio logs as an error.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
        if close is not None:
            try:
                await asyncio.wait_for(close(), CLOSE_TIMEOUT_S)
            except Exception as e:  # exiting anyway: say so, in one line
                log.warning("%s: closing its connections failed: %s", what, str(e) or type(e).__name__)
        loop.stop()

    def stop(reason: str = "the hub is gone") -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        log.info("%s stops: %s", what, reason)
        loop.add_callback(stop_now)

    for sig in STOP_SIGNALS:
        loop.asyncio_loop.add_signal_handler(sig, stop, f"received {sig.name}")  # type: ignore[attr-defined]
    die_with_parent(log, what, stop)
    loop.start()
    gc.freeze()  # the process ends next: see exit_without_collecting


def exit_without_collecting() -> None:
    """At exit, skip the interpreter's last garbage collections (for the hub).

    They walk every object the process imported (JupyterHub's and ours: 280,000)
    only to free memory the OS takes back anyway, and took 2-4 s of the hub's
    Ctrl-C on a busy machine. Everything that needs closing is closed before
    (JupyterHub's cleanup, the atexit handlers registered before this one).
    """
    atexit.register(gc.freeze)
