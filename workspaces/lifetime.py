"""Hub services end with the hub that started them.

A hub that dies (SIGKILL, OOM) cannot stop its managed services; one left
running would hold its port and a restarted hub could not start a fresh one.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

from tornado.ioloop import IOLoop, PeriodicCallback

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(log: logging.Logger, what: str) -> None:
    """SIGTERM when the parent (the hub) dies, through Linux's prctl, and a
    getppid check every second as a fallback elsewhere."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before the call took effect
            os.kill(os.getpid(), signal.SIGTERM)
    loop = IOLoop.current()

    def exit_if_orphaned() -> None:
        if os.getppid() != parent:
            log.warning("The hub (pid %d) is gone; %s stops too", parent, what)
            loop.stop()

    PeriodicCallback(exit_if_orphaned, 1000).start()
