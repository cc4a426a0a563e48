"""Budgets end to end: a real hub with quotas, the workspaces API and the CLI in front of it.

The hub (tests/support/budgets.py) has three fake GPUs and budgets of 1 GPU
and 2 running workspaces each, 2 GPUs for the group gpu-team. Workspaces run
a stand-in server, so starts take a fraction of a second. Going around the API
(the hub's REST API, its form) is in tests/security/test_budgets.py.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator

import pytest

from ..support.budgets import CPU, GPU, running_budget_hub, server_names
from ..support.hub import WORKSPACES, Hub

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def bhub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    yield from running_budget_hub(tmp_path_factory.mktemp("budgets"))


def create(hub: Hub, user: str, name: str, spec: dict) -> dict:
    r = hub.ws("POST", "/workspaces", token=hub.user_token(user), json={"name": name, "spec": spec})
    assert r.status_code == 201, r.text
    hub.wait_ready(user, name)
    return r.json()


def stop(hub: Hub, user: str, name: str) -> None:
    assert hub.ws("POST", f"/workspaces/{user}/{name}/stop", token=hub.user_token(user)).status_code == 200
    hub.wait_stopped(user, name)


def join_group(hub: Hub, group: str, user: str) -> None:
    hub.user_token(user)
    assert hub.api("POST", f"/groups/{group}").status_code in (201, 409)
    assert hub.api("POST", f"/groups/{group}/users", json={"users": [user]}).status_code == 200


def test_a_create_over_the_gpu_budget_is_refused_with_403_and_leaves_no_workspace(bhub: Hub):
    create(bhub, "gil", "first", GPU)
    r = bhub.ws("POST", "/workspaces", token=bhub.user_token("gil"), json={"name": "second", "spec": GPU})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["message"] == "GPU budget (default): 1 of 1 GPU in use, 1 more asked"
    assert server_names(bhub, "gil") == ["first"]


def test_a_refused_restart_keeps_the_workspace(bhub: Hub):
    create(bhub, "hal", "a", GPU)
    stop(bhub, "hal", "a")
    create(bhub, "hal", "b", GPU)  # the GPU a held is now b's
    r = bhub.ws("POST", "/workspaces/hal/a/start", token=bhub.user_token("hal"))
    assert r.status_code == 403 and "GPU budget" in r.json()["error"]["message"], r.text
    assert server_names(bhub, "hal") == ["a", "b"]


def recorded_options(hub: Hub, user: str) -> dict[str, dict]:
    servers = hub.api("GET", f"/users/{user}", params={"include_stopped_servers": "1"}).json()["servers"]
    return {name: server["user_options"] for name, server in servers.items()}


def test_a_start_the_budget_refuses_changes_no_record(bhub: Hub):
    # The hub stores a start's options on the record before the spawner sees them. Left
    # there after a refusal, they would be the stopped workspace's spec from then on, and a
    # new record's refused size would count against the storage budget (Kubernetes).
    create(bhub, "ivy", "cpu", CPU)
    stop(bhub, "ivy", "cpu")
    create(bhub, "ivy", "gpu", GPU)
    before = recorded_options(bhub, "ivy")
    token = bhub.user_token("ivy")
    for name in ("cpu", "new"):
        r = bhub.api("POST", f"/users/ivy/servers/{name}", token=token, json=GPU)
        assert r.status_code == 403 and "GPU budget" in r.json()["message"], r.text
    after = recorded_options(bhub, "ivy")
    assert after["cpu"] == before["cpu"] and after["cpu"]["profile"] == CPU["profile"]
    assert not after.get("new")  # a record never started: it holds nothing


def test_a_group_raises_the_budget_and_info_shows_it_in_use(bhub: Hub):
    join_group(bhub, "gpu-team", "ida")
    create(bhub, "ida", "one", GPU)
    create(bhub, "ida", "two", GPU)
    budget = bhub.ws("GET", "/info", token=bhub.user_token("ida")).json()["budget"]
    assert budget["gpus"] == {"limit": 2, "in_use": 2, "source": "group gpu-team", "text": "2 of 2 GPUs in use"}
    assert budget["workspaces"]["text"] == "2 of 2 running workspaces in use"


def test_the_running_workspace_budget_counts_workspaces_without_gpus(bhub: Hub):
    create(bhub, "solo", "one", CPU)
    r = bhub.ws("POST", "/workspaces", token=bhub.user_token("solo"), json={"name": "two", "spec": CPU})
    assert r.status_code == 403
    assert r.json()["error"]["message"] == "workspace budget (user solo): 1 of 1 running workspace in use, 1 more asked"
    assert server_names(bhub, "solo") == ["one"]


def test_two_starts_at_once_cannot_both_slip_through(bhub: Hub):
    token = bhub.user_token("jo")
    for name in ("x", "y"):  # recorded, not started (the hub's create without a start)
        assert bhub.api("PUT", f"/users/jo/servers/{name}", token=token, json={"user_options": GPU}).status_code == 201
    answers: dict[str, int] = {}

    def start(name: str) -> None:
        answers[name] = bhub.api("POST", f"/users/jo/servers/{name}", token=token, json=GPU).status_code

    threads = [threading.Thread(target=start, args=(n,)) for n in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(answers.values())[1] == 403 and sorted(answers.values())[0] in (201, 202), answers


def test_the_cli_prints_the_refusal_in_one_line(bhub: Hub, tmp_path):
    create(bhub, "kit", "first", GPU)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSPACES_")}
    env.update({"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")})
    login = subprocess.run([str(WORKSPACES), "login", bhub.url, "--token", bhub.user_token("kit")],
                           capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert login.returncode == 0, login.stderr
    result = subprocess.run([str(WORKSPACES), "create", "second", "--image", "stub-gpu", "--profile", "gpu-1"],
                            capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert result.stderr == "workspaces: error: GPU budget (default): 1 of 1 GPU in use, 1 more asked\n"
    assert server_names(bhub, "kit") == ["first"]


def test_admins_see_use_per_user_and_per_group(bhub: Hub):
    join_group(bhub, "gpu-team", "lou")
    create(bhub, "lou", "one", GPU)
    usage = bhub.ws("GET", "/usage").json()
    lou = next(u for u in usage["users"] if u["name"] == "lou")
    assert lou["groups"] == ["gpu-team"] and lou["budget"]["gpus"]["text"] == "1 of 2 GPUs in use"
    team = next(g for g in usage["groups"] if g["name"] == "gpu-team")
    held_by_members = sum(u["budget"]["gpus"]["in_use"] for u in usage["users"] if "gpu-team" in u["groups"])
    assert team["in_use"]["gpus"] == held_by_members >= 1
    assert team["member_limits"] == {"gpus": 2, "workspaces": None, "storage": None}


def test_a_create_refused_for_gpus_the_machine_lacks_leaves_no_workspace(hub: Hub):
    # the shared hub has no GPUs, and no budgets
    r = hub.ws("POST", "/workspaces", token=hub.user_token("newbie"), json={"name": "gpu-try", "spec": {"image": "cuda", "profile": "gpu-1"}})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"] == "1 GPU(s) requested but this machine has 0"
    assert server_names(hub, "newbie") == []
