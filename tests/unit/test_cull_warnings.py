"""Warnings before a stop, and the keep-alive's arithmetic, on given times (no waiting)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from culler.cull import Culler
from workspaces.api.model import workspace
from workspaces.catalog import Catalog, ImageEntry, Profile
from workspaces.config import CullingPolicy, WorkspacesConfig
from workspaces.culling import Verdict, cull_warning, keepalive_args, kept_alive_until
from workspaces.errors import issues_from_pydantic

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
HOUR = Verdict("default", 3600)
CATALOG = Catalog(images=(ImageEntry(id="lab", display_name="Lab", image="x"),), profiles=(Profile(id="small", display_name="S"),))


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def policy(**settings) -> CullingPolicy:
    return CullingPolicy.model_validate({"startup_grace": 0, **settings})


def test_warn_before_defaults_to_15_minutes_and_takes_durations():
    assert CullingPolicy().warn_before == 900
    assert policy(warn_before="5m").warn_before == 300


def test_a_negative_warn_before_is_named():
    with pytest.raises(ValidationError) as info:
        WorkspacesConfig.model_validate({"culling": {"warn_before": -1}})
    assert [str(i) for i in issues_from_pydantic(info.value, WorkspacesConfig)] == [
        "culling.warn_before: must be a duration >= 0"
    ]


def test_no_warning_while_the_stop_is_further_than_warn_before():
    # idle 40 minutes of 60: the stop is 20 minutes away, the window 15
    assert cull_warning(policy(), HOUR, ago(7200), ago(2400), NOW) is None


def test_a_workspace_stopping_within_warn_before_is_warned_with_the_time_left():
    warning = cull_warning(policy(), HOUR, ago(7200), ago(3000), NOW)
    assert warning is not None
    assert warning.json() == {"at": "2026-11-30T12:10:00Z", "seconds_left": 600, "reason": "idle"}


def test_the_warning_says_max_age_when_max_age_comes_first():
    warning = cull_warning(policy(max_age="2h"), HOUR, ago(7000), ago(60), NOW)
    assert warning is not None
    assert (warning.reason, int(warning.seconds_left)) == ("max_age", 200)


@pytest.mark.parametrize(
    "settings, verdict",
    [
        ({"warn_before": 0}, HOUR),
        ({}, Verdict("exempt", None)),
        ({"enabled": False}, HOUR),
        ({"dry_run": True}, HOUR),
    ],
    ids=["warnings-off", "exempt", "culling-off", "dry-run"],
)
def test_nothing_is_warned_when_nothing_will_stop_it_or_warnings_are_off(settings, verdict):
    assert cull_warning(policy(**settings), verdict, ago(7200), ago(3500), NOW) is None


def test_a_keepalive_stops_it_one_idle_timeout_from_now():
    assert kept_alive_until(policy(), HOUR, ago(7200), NOW) == NOW + timedelta(hours=1)


def test_a_keepalive_never_moves_the_stop_past_max_age():
    # started 90 minutes ago, max_age 2h: an hour from now would be past it
    assert kept_alive_until(policy(max_age="2h"), HOUR, ago(5400), NOW) == NOW + timedelta(minutes=30)


def test_servers_that_stop_themselves_get_the_keepalive_extension_and_the_warning_window():
    assert keepalive_args(policy(warn_before="10m", max_age="1d"), HOUR) == [
        '--ServerApp.jpserver_extensions={"workspaces.keepalive_server": True}',
        "--WorkspacesKeepalive.warn_before=600",
        "--WorkspacesKeepalive.max_age=86400",
    ]


def test_exempt_servers_get_no_keepalive_extension():
    assert keepalive_args(policy(), Verdict("exempt", None)) == []


def running(last_activity: str) -> dict:
    return {
        "name": "ws", "ready": True, "pending": None, "url": "/user/u/ws/", "started": ago(7200),
        "last_activity": last_activity, "user_options": {"image": "lab", "profile": "small"},
    }


def test_the_api_model_carries_the_warning_of_a_running_workspace():
    ws = workspace({"name": "u"}, running(ago(3000)), {}, CATALOG, policy(default_timeout=3600), now=NOW)
    assert ws["cull_warning"] == {"at": "2026-11-30T12:10:00Z", "seconds_left": 600, "reason": "idle"}
    assert ws["cull_at"] == "2026-11-30T12:10:00Z"


def test_a_stopped_workspace_has_no_warning():
    stopped = {**running(ago(3000)), "ready": False}
    assert workspace({"name": "u"}, stopped, {}, CATALOG, policy(default_timeout=3600), now=NOW)["cull_warning"] is None


class OneUser:
    """The hub as the culler reads it: one user with one running server."""

    def __init__(self, server: dict):
        self.server = server
        self.requests = 0

    async def ready_users(self, page_size):
        self.requests += 1
        yield [{"name": "u", "servers": {"ws": self.server}}]

    async def stop_server(self, user, server):
        raise AssertionError("nothing here is due to stop")


def warned(culler: Culler, reason: str) -> float:
    return culler.metrics.registry.get_sample_value("workspaces_culler_warned_total", {"reason": reason}) or 0


def test_the_culler_logs_and_counts_each_warning_once_per_stop_time(caplog):
    client = OneUser(running(ago(3000)))
    culler = Culler(client, policy(default_timeout=3600), CATALOG)
    with caplog.at_level(logging.INFO, logger="workspaces.culler"):
        asyncio.run(culler.run_pass(now=NOW))
        asyncio.run(culler.run_pass(now=NOW + timedelta(seconds=60)))  # the same stop: not again
        client.server = running(ago(2900))  # kept alive: a new stop time, warned again
        asyncio.run(culler.run_pass(now=NOW + timedelta(seconds=120)))
    lines = [r.getMessage() for r in caplog.records if "warned" in r.getMessage()]
    assert lines == [
        "Culler: warned u/ws: stops at 2026-11-30T12:10:00Z (idle, in 600s)",
        "Culler: warned u/ws: stops at 2026-11-30T12:11:40Z (idle, in 580s)",
    ]
    assert warned(culler, "idle") == 2
