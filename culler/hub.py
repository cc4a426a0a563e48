"""The few hub API calls the culler makes, over HTTP with its own token.

The culler talks to the hub only, never to a user's server: a server is the
user's code, and whatever reaches it is the user's to read.

One pooled aiohttp session: the hub API is one host, so keep-alive connections
save a TCP connect per request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any
from urllib.parse import quote

import aiohttp

PAGINATION = "application/jupyterhub-pagination+json"
# the hub's lean list of ready servers, where the hub config adds it (culler/ready_servers.py)
READY_SERVERS = "/workspaces-culler/ready-servers"


class HubClient:
    """Reads users from the hub API and stops servers through it."""

    def __init__(self, api_url: str, token: str, timeout: float = 30, connections: int = 20):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0  # counted for the pass report and the benchmark
        self.lean: bool | None = None  # whether the hub has the lean list; None: not asked yet

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"token {self.token}"},
                connector=aiohttp.TCPConnector(limit=self.connections),
            )
        return self._session

    async def fetch(self, method: str, url: str, timeout: float | None = None, **kwargs: Any) -> Any:
        self.requests += 1
        async with self.session.request(
            method,
            url,
            timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
            allow_redirects=False,
            raise_for_status=True,
            **kwargs,
        ) as response:
            body = await response.read()
        return json.loads(body) if body else None

    async def _page(self, offset: int, limit: int) -> dict[str, Any]:
        params = {"state": "ready", "offset": str(offset), "limit": str(limit)}
        return await self.fetch("GET", f"{self.api_url}/users", params=params, headers={"Accept": PAGINATION})

    async def _ready_servers(self, after: int, limit: int) -> dict[str, Any] | None:
        """A page of the hub's lean list (culler/ready_servers.py); None where the hub has no such endpoint."""
        try:
            return await self.fetch(
                "GET", f"{self.api_url}{READY_SERVERS}", params={"after": str(after), "limit": str(limit)}
            )
        except aiohttp.ClientResponseError as e:
            if e.status == 404:
                return None
            raise

    async def ready_users(self, page_size: int) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of users with a ready server, one request per page; the next
        page is fetched while the caller works on the current one.

        From the hub's lean list when it has one (one item per ready server,
        shaped as a ``/users`` item), else from ``/users?state=ready``."""
        page = await self._ready_servers(0, page_size) if self.lean is not False else None
        self.lean = page is not None
        if page is None:
            page = await self._page(0, page_size)

        def following_page(page: dict[str, Any]) -> Awaitable[Any] | None:
            if self.lean:
                after = page.get("next_after")
                return None if after is None else self._ready_servers(after, page_size)
            following = page["_pagination"].get("next")
            return self._page(following["offset"], page_size) if following and page["items"] else None

        while True:
            upcoming = following_page(page)
            prefetch = asyncio.ensure_future(upcoming) if upcoming is not None else None
            try:
                if page["items"]:
                    yield page["items"]
            except BaseException:
                if prefetch:
                    prefetch.cancel()
                raise
            if prefetch is None:
                return
            page = await prefetch

    async def stop_server(self, user: str, server: str) -> None:
        """Stop a server through the hub, as its owner's stop button does: the
        named server, its spec and its storage stay (no ``remove``)."""
        route = f"/users/{quote(user, safe='')}/" + (f"servers/{quote(server, safe='')}" if server else "server")
        await self.fetch("DELETE", f"{self.api_url}{route}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
