"""The few hub and server calls the culler makes, over HTTP with its own token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

PAGINATION = "application/jupyterhub-pagination+json"


class HubClient:
    """Reads users from the hub API and talks to servers through the proxy."""

    def __init__(self, api_url: str, public_url: str, token: str, timeout: float = 30):
        self.api_url = api_url.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.http = AsyncHTTPClient()
        self.requests = 0  # counted for the benchmark and the pass report

    async def fetch(self, url: str, method: str = "GET", body: Any = None, timeout: float | None = None, **headers: str) -> Any:
        self.requests += 1
        request = HTTPRequest(
            url,
            method=method,
            headers={"Authorization": f"token {self.token}", **headers},
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            request_timeout=timeout or self.timeout,
            follow_redirects=False,
        )
        response = await self.http.fetch(request)
        return json.loads(response.body) if response.body else None

    async def ready_users(self, page_size: int) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of users with a ready server; one request per page, never all at once."""
        offset = 0
        while True:
            query = urlencode({"state": "ready", "offset": offset, "limit": page_size})
            page = await self.fetch(f"{self.api_url}/users?{query}", Accept=PAGINATION)
            items = page["items"]
            if items:
                yield items
            following = page["_pagination"].get("next")
            if not following or not items:
                return
            offset = following["offset"]

    def server_url(self, server: dict[str, Any], path: str) -> str:
        return f"{self.public_url}{server['url']}{path}"

    async def server_get(self, server: dict[str, Any], path: str, timeout: float) -> Any:
        return await self.fetch(self.server_url(server, path), timeout=timeout)

    async def shutdown_server(self, server: dict[str, Any], timeout: float) -> None:
        """Ask the server to shut itself down (a stop: the workspace and its files stay)."""
        try:
            await self.fetch(self.server_url(server, "api/shutdown"), method="POST", body={}, timeout=timeout)
        except HTTPClientError as e:
            # 599: the server went away while answering, which is what we asked for
            if e.code != 599:
                raise
