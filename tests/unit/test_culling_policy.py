"""The culling policy: its validation, rule matching, and decisions on given facts."""

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from culler.cull import SELF_CULLING, Culler
from workspaces.catalog import Catalog, ImageEntry, Profile
from workspaces.config import CullingPolicy, WorkspacesConfig
from workspaces.culling import Verdict, WorkspaceFacts, server_culling_args, stop_time, verdict
from workspaces.errors import issues_from_pydantic

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
CATALOG = Catalog(
    images=(ImageEntry(id="lab", display_name="Lab", image="x"),),
    profiles=(Profile(id="small", display_name="S"), Profile(id="gpu-1", display_name="G", gpu={"count": 1})),
)


def policy_issues(culling: dict) -> list[str]:
    with pytest.raises(ValidationError) as info:
        WorkspacesConfig.model_validate({"culling": culling})
    return [str(i) for i in issues_from_pydantic(info.value, WorkspacesConfig)]


def test_durations_accept_seconds_and_units():
    policy = CullingPolicy.model_validate({"default_timeout": "2h", "startup_grace": "90s", "every": "5m", "max_age": "1d"})
    assert (policy.default_timeout, policy.startup_grace, policy.every, policy.max_age) == (7200, 90, 300, 86400)


def test_bad_duration_is_named():
    assert policy_issues({"default_timeout": "soon"}) == [
        "culling.default_timeout: must be a duration such as 600, 90s, 30m, 2h or 1d, not 'soon'"
    ]


def test_a_rule_needs_a_timeout_or_an_exemption():
    assert policy_issues({"rules": [{"match": {"gpu": True}}]}) == ["culling.rules[0]: set either timeout or exempt: true"]


def test_a_rule_must_match_something():
    [issue] = policy_issues({"rules": [{"match": {}, "timeout": 60}]})
    assert issue.startswith("culling.rules[0].match: give at least one of: profile, image, gpu")


def test_unknown_match_key_is_named():
    [issue] = policy_issues({"rules": [{"match": {"gpus": True}, "timeout": 60}]})
    assert issue.startswith("culling.rules[0].match.gpus: unknown key; allowed keys: profile, image, gpu")


def facts(**kw) -> WorkspaceFacts:
    base = dict(user="u", groups=frozenset(), profile="small", image="lab", gpus=0, namespace=None)
    return WorkspaceFacts(**{**base, **kw})


def test_first_matching_rule_wins():
    policy = CullingPolicy.model_validate(
        {"rules": [{"match": {"gpu": True}, "timeout": 600}, {"name": "team", "match": {"group": "team"}, "exempt": True}]}
    )
    assert verdict(policy, facts(gpus=1, groups=frozenset({"team"}))).rule == "rules[0]"
    assert verdict(policy, facts(groups=frozenset({"team"}))).timeout is None
    assert verdict(policy, facts()).rule == "default"


def test_every_key_of_a_match_must_hold():
    policy = CullingPolicy.model_validate({"rules": [{"match": {"profile": "small", "user": "a"}, "timeout": 5}]})
    assert verdict(policy, facts(user="a")).rule == "rules[0]"
    assert verdict(policy, facts(user="b")).rule == "default"


def test_gpu_count_comes_from_the_spec_or_the_profile():
    server = {"user_options": {"image": "lab", "profile": "gpu-1"}}
    assert WorkspaceFacts.of({"name": "u"}, server, CATALOG).gpus == 1
    server = {"user_options": {"image": "lab", "profile": "gpu-1", "gpus": 0}}
    assert WorkspaceFacts.of({"name": "u"}, server, CATALOG).gpus == 0
    assert WorkspaceFacts.of({"name": "u", "groups": ["g"]}, {"user_options": {}}, CATALOG).groups == {"g"}


class FakeClient:
    """In-memory hub: one page of users; records stops."""

    def __init__(self, users):
        self.users = users
        self.requests = 0
        self.stops = []

    async def ready_users(self, page_size):
        for i in range(0, len(self.users), page_size):
            self.requests += 1
            yield self.users[i : i + page_size]

    async def stop_server(self, user, server):
        self.requests += 1
        self.stops.append(f"{user}/{server}")


def server(name, idle_s, age_s, **options):
    return {
        "name": name,
        "ready": True,
        "pending": None,
        "url": f"/user/u/{name}/",
        "started": (NOW - timedelta(seconds=age_s)).isoformat(),
        "last_activity": (NOW - timedelta(seconds=idle_s)).isoformat(),
        "user_options": {"image": "lab", "profile": "small", **options},
    }


def run(policy: dict, servers: list):
    client = FakeClient([{"name": "u", "servers": {s["name"]: s for s in servers}}])
    culler = Culler(client, CullingPolicy.model_validate(policy), CATALOG)
    report = asyncio.run(culler.run_pass(now=NOW))
    return culler, client, report


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def test_the_stop_time_is_the_last_activity_plus_the_timeout():
    policy = CullingPolicy(startup_grace=60)
    when = stop_time(policy, Verdict("default", 3600), iso(NOW - timedelta(hours=2)), iso(NOW - timedelta(minutes=10)))
    assert when == NOW + timedelta(minutes=50)


def test_the_stop_time_counts_from_the_start_without_activity():
    policy = CullingPolicy(startup_grace=60)
    assert stop_time(policy, Verdict("default", 3600), iso(NOW), None) == NOW + timedelta(seconds=3600)


def test_a_timeout_shorter_than_the_startup_grace_is_raised_to_it():
    policy = CullingPolicy(startup_grace=600)
    assert stop_time(policy, Verdict("default", 60), iso(NOW), None) == NOW + timedelta(seconds=600)
    assert server_culling_args(policy, Verdict("default", 60))[0] == "--ServerApp.shutdown_no_activity_timeout=600"


def test_max_age_brings_the_stop_time_forward():
    policy = CullingPolicy(max_age=1800)
    assert stop_time(policy, Verdict("default", 3600), iso(NOW), iso(NOW)) == NOW + timedelta(seconds=1800)


@pytest.mark.parametrize("policy, timeout, started", [
    (CullingPolicy(), None, "2026-11-28T12:00:00Z"),  # exempt
    (CullingPolicy(enabled=False), 3600, "2026-11-28T12:00:00Z"),
    (CullingPolicy(dry_run=True), 3600, "2026-11-28T12:00:00Z"),
    (CullingPolicy(), 3600, None),  # not running
])
def test_no_stop_time_when_the_culler_will_not_stop_it(policy, timeout, started):
    assert stop_time(policy, Verdict("default", timeout), started, None) is None


def test_the_server_culls_itself_on_its_rule_and_keeps_busy_and_connected_kernels():
    policy = CullingPolicy.model_validate({"startup_grace": 0, "rules": [{"match": {"gpu": True}, "timeout": "30m"}]})
    args = server_culling_args(policy, verdict(policy, facts(gpus=1)))
    assert args == [
        "--ServerApp.shutdown_no_activity_timeout=1800",
        "--MappingKernelManager.cull_idle_timeout=1800",
        "--MappingKernelManager.cull_interval=60",
        "--MappingKernelManager.cull_busy=False",
        "--MappingKernelManager.cull_connected=False",
        "--TerminalManager.cull_inactive_timeout=1800",
        "--TerminalManager.cull_interval=60",
    ]


def test_short_timeouts_are_checked_more_often():
    policy = CullingPolicy.model_validate({"default_timeout": 4, "startup_grace": 0})
    assert "--MappingKernelManager.cull_interval=2" in server_culling_args(policy, verdict(policy, facts()))


@pytest.mark.parametrize("policy", [
    {"enabled": False},
    {"dry_run": True},
    {"rules": [{"match": {"user": "u"}, "exempt": True}]},
])
def test_a_server_that_must_not_stop_gets_no_culling_settings(policy):
    policy = CullingPolicy.model_validate(policy)
    assert server_culling_args(policy, verdict(policy, facts())) == []


def test_idle_servers_are_left_to_stop_themselves():
    culler, client, report = run(
        {"default_timeout": 600, "startup_grace": 0}, [server("idle", 700, 900), server("active", 10, 900)]
    )
    assert client.stops == []
    assert (culler.decisions["u/idle"].action, culler.decisions["u/idle"].reason) == ("kept", SELF_CULLING)
    assert culler.decisions["u/active"].reason == "active"
    assert (report.inspected, report.stopped) == (2, 0)


def test_a_dry_run_reports_what_would_stop():
    culler, client, report = run({"default_timeout": 600, "startup_grace": 0, "dry_run": True}, [server("idle", 700, 900)])
    assert client.stops == [] and report.would_stop == 1
    assert culler.decisions["u/idle"].action == "would stop"


def test_max_age_stops_even_an_active_server_through_the_hub():
    culler, client, report = run({"default_timeout": 600, "max_age": 3600, "startup_grace": 0}, [server("old", 1, 7200)])
    assert client.stops == ["u/old"] and report.stopped == 1
    assert culler.decisions["u/old"].reason.startswith("older than max_age")
    assert list(culler.culled) == ["u/old"]


def test_a_refused_stop_is_reported_and_the_pass_goes_on():
    class Refusing(FakeClient):
        async def stop_server(self, user, server):
            raise RuntimeError("403 Forbidden")

    client = Refusing([{"name": "u", "servers": {"old": server("old", 1, 7200), "new": server("new", 1, 60)}}])
    culler = Culler(client, CullingPolicy.model_validate({"max_age": 3600, "startup_grace": 0}), CATALOG)
    report = asyncio.run(culler.run_pass(now=NOW))
    assert culler.decisions["u/old"].action == "stop failed"
    assert "403 Forbidden" in culler.decisions["u/old"].reason
    assert culler.decisions["u/new"].action == "kept" and report.inspected == 2


def test_memory_follows_running_workspaces_not_history():
    client = FakeClient([{"name": "u", "servers": {"a": server("a", 10, 900), "b": server("b", 10, 900)}}])
    culler = Culler(client, CullingPolicy.model_validate({"startup_grace": 0}), CATALOG)
    asyncio.run(culler.run_pass(now=NOW))
    assert set(culler.decisions) == {"u/a", "u/b"}
    client.users = [{"name": "u", "servers": {"b": server("b", 10, 900)}}]
    asyncio.run(culler.run_pass(now=NOW))
    assert set(culler.decisions) == {"u/b"}


def test_exempt_wins_over_max_age():
    policy = {"max_age": 60, "startup_grace": 0, "rules": [{"match": {"user": "u"}, "exempt": True}]}
    culler, client, _ = run(policy, [server("old", 7200, 7200)])
    assert client.stops == [] and culler.decisions["u/old"].reason == "exempt"


def test_passes_never_overlap():
    class SlowClient(FakeClient):
        async def ready_users(self, page_size):
            await asyncio.sleep(0.2)
            async for page in super().ready_users(page_size):
                yield page

    client = SlowClient([{"name": "u", "servers": {"s": server("s", 10, 900)}}])
    culler = Culler(client, CullingPolicy.model_validate({"startup_grace": 0}), CATALOG)

    async def two_at_once():
        return await asyncio.gather(culler.run_pass(now=NOW), culler.run_pass(now=NOW))

    first, second = asyncio.run(two_at_once())
    assert first is not None and first.inspected == 1
    assert second is None
