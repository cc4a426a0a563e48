"""The culler's HTTP client against a stand-in hub API on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

from tornado import web

from culler.hub import PAGINATION, READY_SERVERS, HubClient

USERS = [{"name": f"u{i}", "servers": {"s": {"ready": True}}} for i in range(25)]


class Users(web.RequestHandler):
    def initialize(self, log: list) -> None:
        self.log = log

    def get(self) -> None:
        q = parse_qs(urlparse(self.request.uri).query)
        self.log.append((q, self.request.headers.get("Authorization"), self.request.headers.get("Accept")))
        offset, limit = int(q["offset"][0]), int(q["limit"][0])
        following = {"offset": offset + limit, "limit": limit} if offset + limit < len(USERS) else None
        self.write(json.dumps({"items": USERS[offset : offset + limit], "_pagination": {"next": following}}))


class ReadyServers(web.RequestHandler):
    """The hub's lean list (culler/ready_servers.py): one item per server, paged by ``after``."""

    def initialize(self, log: list) -> None:
        self.log = log

    def get(self) -> None:
        q = parse_qs(urlparse(self.request.uri).query)
        self.log.append(("lean", int(q["after"][0]), int(q["limit"][0])))
        after, limit = int(q["after"][0]), int(q["limit"][0])
        ids = list(range(after + 1, len(USERS) + 1))[:limit]  # server ids 1..25
        self.write(json.dumps({"items": [USERS[i - 1] for i in ids], "next_after": ids[-1] if len(ids) == limit else None}))


class Servers(web.RequestHandler):
    def initialize(self, log: list) -> None:
        self.log = log

    def delete(self, user: str, server: str) -> None:
        self.log.append((self.request.method, self.request.path, self.request.body, self.request.headers.get("Authorization")))
        self.set_status(204)


def against_hub(call: Callable[[HubClient], Awaitable[Any]], lean: bool = False) -> tuple[Any, list]:
    """``call`` on a client of a stand-in hub API on loopback (with the lean list of ready servers
    if ``lean``, as the hub config adds it); its result and the requests the hub saw."""
    log: list = []
    extra = [(r"/hub/api" + READY_SERVERS, ReadyServers, {"log": log})] if lean else []

    async def go():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        server = web.Application(
            [(r"/hub/api/users", Users, {"log": log}), (r"/hub/api/users/([^/]+)/servers/([^/]+)", Servers, {"log": log}), *extra]
        ).listen(port, "127.0.0.1")
        client = HubClient(f"http://127.0.0.1:{port}/hub/api", "secret")
        try:
            return await call(client)
        finally:
            await client.close()
            server.stop()

    return asyncio.run(go()), log


def pages(page_size: int, lean: bool = False) -> tuple[list[list[dict]], list]:
    async def read(client: HubClient) -> list[list[dict]]:
        return [page async for page in client.ready_users(page_size)]

    return against_hub(read, lean)


def test_ready_users_are_read_page_by_page():
    got, log = pages(10)
    assert [len(p) for p in got] == [10, 10, 5]
    assert [u["name"] for p in got for u in p] == [u["name"] for u in USERS]
    assert [q["offset"] for q, _, _ in log] == [["0"], ["10"], ["20"]]


def test_requests_ask_for_ready_servers_with_the_token_and_pagination():
    _, log = pages(100)
    [(query, auth, accept)] = log
    assert query["state"] == ["ready"] and query["limit"] == ["100"]
    assert auth == "token secret" and accept == PAGINATION


def test_a_stop_is_a_delete_of_that_one_server_through_the_hub_without_remove():
    _, log = against_hub(lambda client: client.stop_server("ann/../bob", "my ws"))
    [(method, path, body, auth)] = log
    assert (method, path, body, auth) == ("DELETE", "/hub/api/users/ann%2F..%2Fbob/servers/my%20ws", b"", "token secret")


def test_a_hub_with_the_lean_list_is_read_through_it_page_by_page():
    got, log = pages(10, lean=True)
    assert [u["name"] for p in got for u in p] == [u["name"] for u in USERS]
    assert log == [("lean", 0, 10), ("lean", 10, 10), ("lean", 20, 10)]  # never /users


def test_a_hub_without_the_lean_list_is_read_through_users():
    async def two_passes(client: HubClient) -> tuple[list, int]:
        first = [page async for page in client.ready_users(25)]
        second = [page async for page in client.ready_users(25)]
        return [first, second], client.requests

    (got, requests), log = against_hub(two_passes)
    assert got == [[USERS], [USERS]]
    assert [q["state"] for q, _, _ in log] == [["ready"], ["ready"]]
    # one 404, on the first pass only: the second asks /users straight away
    assert requests == 3
