"""The server probe over real HTTP on loopback: what counts as activity, what is a failure."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import datetime, timedelta, timezone

import pytest
from tornado import web

from culler.hub import HubClient
from culler.signals import ProbeFailed, ServerProbe

NOW = datetime.now(timezone.utc)


def iso(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat()


class FakeServer(web.RequestHandler):
    """A jupyter server's /api/status, /api/kernels and /api/terminals, as configured."""

    def initialize(self, answers: dict, queries: list) -> None:
        self.answers = answers
        self.queries = queries

    def get(self, what: str) -> None:
        self.queries.append(self.request.query)
        answer = self.answers[what]
        if isinstance(answer, int):
            raise web.HTTPError(answer)
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(answer))


def probe(answers: dict | None, timeout: float = 2, queries: list | None = None):
    async def go():
        handler_args = {"answers": answers or {}, "queries": [] if queries is None else queries}
        app = web.Application([(r"/user/u/s/api/(status|kernels|terminals)", FakeServer, handler_args)])
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        server = app.listen(port, "127.0.0.1") if answers is not None else None
        client = HubClient("http://unused", f"http://127.0.0.1:{port}", "token")
        try:
            return await ServerProbe(client, timeout).observe({"url": "/user/u/s/"})
        finally:
            await client.close()
            if server:
                server.stop()

    return asyncio.run(go())


IDLE = {"status": {"last_activity": iso(3600), "connections": 0}, "kernels": [], "terminals": []}


def test_an_idle_server_reports_its_last_activity():
    seen = probe(IDLE)
    assert seen.busy is None
    assert abs((NOW - seen.last_activity).total_seconds() - 3600) < 1


def test_a_busy_kernel_is_busy():
    kernels = [{"execution_state": "busy", "last_activity": iso(3600)}]
    assert probe({**IDLE, "kernels": kernels}).busy == "1 busy kernel(s)"


def test_an_open_connection_is_busy():
    status = {"last_activity": iso(3600), "connections": 2}
    assert probe({**IDLE, "status": status}).busy == "2 open connection(s)"


def test_terminal_activity_counts():
    seen = probe({**IDLE, "terminals": [{"name": "1", "last_activity": iso(5)}]})
    assert (NOW - seen.last_activity).total_seconds() < 10


def test_kernel_activity_counts():
    seen = probe({**IDLE, "kernels": [{"execution_state": "idle", "last_activity": iso(7)}]})
    assert (NOW - seen.last_activity).total_seconds() < 10


def test_a_500_is_a_probe_failure():
    with pytest.raises(ProbeFailed, match="500"):
        probe({**IDLE, "kernels": 500})


def test_a_server_that_is_down_is_a_probe_failure():
    with pytest.raises(ProbeFailed):
        probe(None)


def test_probes_do_not_count_as_activity_on_the_server():
    queries: list = []
    probe(IDLE, queries=queries)
    assert queries == ["no_track_activity=1"] * 3
