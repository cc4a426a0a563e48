"""Activity signals: when was a workspace last used, and is it busy right now?

A signal is anything with an async ``observe(server)`` returning an
:class:`Observation`. The hub's ``last_activity`` and the server's own view
(kernels, terminals, connections) are built in; a GPU-utilisation signal can
join by implementing the same method.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from workspaces.culling import parse_time

from .hub import HubClient


@dataclass(frozen=True)
class Observation:
    last_activity: datetime | None = None
    busy: str | None = None  # why it is busy now ("kernel busy", "2 connections"), or None


class ProbeFailed(Exception):
    """The signal could not be read for this server."""


class Signal(Protocol):
    name: str

    async def observe(self, server: dict[str, Any]) -> Observation: ...


class HubActivity:
    """The hub's record: proxy traffic and the server's activity reports."""

    name = "hub"

    async def observe(self, server: dict[str, Any]) -> Observation:
        return Observation(last_activity=parse_time(server.get("last_activity")) or parse_time(server.get("started")))


class ServerProbe:
    """The server's own view, through the proxy: kernels, terminals, open connections."""

    name = "server"

    def __init__(self, client: HubClient, timeout: float):
        self.client = client
        self.timeout = timeout

    async def observe(self, server: dict[str, Any]) -> Observation:
        try:
            # no_track_activity: the probe itself must not look like a user
            status = await self.client.server_get(server, "api/status?no_track_activity=1", self.timeout)
            kernels = await self.client.server_get(server, "api/kernels?no_track_activity=1", self.timeout)
            terminals = await self.client.server_get(server, "api/terminals?no_track_activity=1", self.timeout)
        except Exception as e:  # any failure: unreachable, 5xx, timeout, not JSON
            raise ProbeFailed(f"{type(e).__name__}: {e}") from None
        busy = [k for k in kernels if k.get("execution_state") == "busy"]
        if busy:
            return Observation(busy=f"{len(busy)} busy kernel(s)")
        if status.get("connections"):
            return Observation(busy=f"{status['connections']} open connection(s)")
        times = [parse_time(status.get("last_activity"))]
        times += [parse_time(k.get("last_activity")) for k in kernels]
        times += [parse_time(t.get("last_activity")) for t in terminals]
        known = [t for t in times if t is not None]
        return Observation(last_activity=max(known) if known else None)
