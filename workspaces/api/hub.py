"""Calls to the JupyterHub REST API on behalf of the caller, with the caller's own token.

One pooled aiohttp session for every caller (the hub is one host); each
request carries the caller's token, so the hub's scopes decide.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from .errors import ApiError

PAGINATION = "application/jupyterhub-pagination+json"


@dataclass
class HubAnswer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def message(self) -> str:
        if isinstance(self.body, dict) and self.body.get("message"):
            return str(self.body["message"])
        return f"the hub answered {self.status}"


def path(*parts: str) -> str:
    """A hub API path from names, each one path segment whatever it contains."""
    if any(p in (".", "..") for p in parts):
        raise ApiError(404, "not_found", "no such user or workspace")  # would climb the hub's URL tree
    return "/" + "/".join(quote(p, safe="") for p in parts)


class Hub:
    def __init__(self, api_url: str, timeout: float = 60):
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._streams: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50))
        return self._session

    @property
    def streams(self) -> aiohttp.ClientSession:
        """Long-lived progress streams get their own connections, so they never hold up requests."""
        if self._streams is None:
            self._streams = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self._streams

    async def close(self) -> None:
        for session in (self._session, self._streams):
            if session is not None:
                await session.close()

    async def call(
        self, token: str, method: str, route: str, *, json_body: Any = None, params: dict[str, str] | None = None,
        accept: str | None = None,
    ) -> HubAnswer:
        headers = {"Authorization": f"token {token}"}
        if accept:
            headers["Accept"] = accept
        try:
            async with self.session.request(
                method,
                self.api_url + route,
                headers=headers,
                params=params,
                data=None if json_body is None else json.dumps(json_body),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                body = json.loads(raw) if raw and response.content_type == "application/json" else None
                return HubAnswer(response.status, body, dict(response.headers))
        except (aiohttp.ClientError, TimeoutError) as e:
            raise ApiError(502, "hub_error", f"the hub did not answer: {type(e).__name__}") from None

    async def stream(self, token: str, route: str) -> AsyncIterator[bytes]:
        """The raw body of a streaming answer (the progress event stream)."""
        headers = {"Authorization": f"token {token}", "Accept": "text/event-stream"}
        try:
            async with self.streams.get(
                self.api_url + route, headers=headers, timeout=aiohttp.ClientTimeout(total=None, sock_read=self.timeout)
            ) as response:
                if response.status != 200:
                    raw = await response.read()
                    body = json.loads(raw) if raw and response.content_type == "application/json" else None
                    raise HubRefused(HubAnswer(response.status, body, dict(response.headers)))
                async for chunk in response.content.iter_any():
                    yield chunk
        except (aiohttp.ClientError, TimeoutError) as e:
            raise ApiError(502, "hub_error", f"the hub's progress stream broke: {type(e).__name__}") from None


class HubRefused(Exception):
    def __init__(self, answer: HubAnswer):
        super().__init__(answer.message)
        self.answer = answer
