"""The keep-alive server extension's own logic, on a stand-in server (a real one is in tests/integration/test_keepalive.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from workspaces.keepalive_server import ACTIVITY_SETTING, Keepalive, WorkspacesKeepalive

# the extension never takes an activity from the future, so the times here are near the real now
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")

ENV = {"JUPYTERHUB_API_URL": "http://hub/api", "JUPYTERHUB_API_TOKEN": "own", "JUPYTERHUB_USER": "ann", "JUPYTERHUB_SERVER_NAME": "ws"}


class Server:
    """What the extension reads of jupyter-server: its timeout, settings, last activity and kernels."""

    def __init__(self, started: datetime, timeout: float = 600):
        self.shutdown_no_activity_timeout = timeout
        self.log = SimpleNamespace(info=lambda *a: None, warning=lambda *a: None)
        self.kernel = SimpleNamespace(last_activity=started)
        self.kernel_manager = SimpleNamespace(list_kernel_ids=lambda: ["k"], get_kernel=lambda _: self.kernel)
        settings: dict[str, Any] = {"started": started}
        # jupyter-server's last_activity(): the start and every setting ending in _last_activity
        self.web_app = SimpleNamespace(
            settings=settings,
            last_activity=lambda: max([settings["started"], *(v for k, v in settings.items() if k.endswith("_last_activity"))]),
        )


def keepalive(server: Server, **settings: float) -> Keepalive:
    return Keepalive(server, WorkspacesKeepalive(**settings), ENV)


def test_a_later_activity_on_the_hub_becomes_the_servers_own_and_its_kernels():
    server = Server(started=NOW - timedelta(minutes=30))
    k = keepalive(server)
    asked: list[tuple[str, str]] = []

    async def hub(method: str, route: str, body: Any = None) -> Any:
        asked.append((method, route))
        return {"started": iso(NOW - timedelta(minutes=30)), "last_activity": iso(NOW - timedelta(minutes=5))}

    k._hub = hub  # type: ignore[method-assign]
    asyncio.run(k.pull())
    assert asked == [("GET", "/users/ann/servers/ws")]
    assert server.web_app.last_activity() == NOW - timedelta(minutes=5)
    assert server.kernel.last_activity == NOW - timedelta(minutes=5)


def test_an_older_activity_on_the_hub_changes_nothing():
    server = Server(started=NOW)
    k = keepalive(server)

    async def hub(method: str, route: str, body: Any = None) -> Any:
        return {"started": iso(NOW), "last_activity": iso(NOW - timedelta(hours=1))}

    k._hub = hub  # type: ignore[method-assign]
    asyncio.run(k.pull())
    assert ACTIVITY_SETTING not in server.web_app.settings


def test_the_warning_comes_within_warn_before_of_the_servers_own_stop():
    k = keepalive(Server(started=NOW - timedelta(minutes=5), timeout=600), warn_before=600)
    assert k.warning(NOW) == {"at": iso(NOW + timedelta(minutes=5)), "seconds_left": 300, "reason": "idle"}
    assert keepalive(Server(started=NOW, timeout=600), warn_before=60).warning(NOW) is None


def test_the_warning_names_max_age_when_it_comes_first():
    k = keepalive(Server(started=NOW, timeout=600), warn_before=600, max_age=120)
    k.started = NOW - timedelta(seconds=60)
    assert k.warning(NOW) == {"at": iso(NOW + timedelta(seconds=60)), "seconds_left": 60, "reason": "max_age"}


def test_the_hub_is_read_a_tenth_of_the_timeout_apart_within_a_second_and_a_minute():
    assert [keepalive(Server(NOW, timeout=t)).interval for t in (5, 120, 3600)] == [1.0, 12.0, 60.0]
