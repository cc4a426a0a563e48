"""Budgets cannot be dodged: a user who goes around the workspaces API (the hub's REST API, the
hub's own spawn form) is held to the same budget, and nobody reads another user's use.

The hub (tests/support/budgets.py): 1 GPU and 2 running workspaces each, the user
solo 1 running workspace; eight fake GPUs, so only the budget can refuse.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..support.budgets import CPU, GPU, running_budget_hub
from ..support.hub import Hub, wait_for

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def bhub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    yield from running_budget_hub(tmp_path_factory.mktemp("budget-attacks"))


def running(hub: Hub, user: str, name: str) -> bool:
    server = hub.server(user, name)
    return bool(server and (server["ready"] or server["pending"]))


def test_the_hubs_rest_api_cannot_start_past_the_gpu_budget(bhub: Hub):
    bhub.start_workspace("mal", "first", GPU)
    r = bhub.api("POST", "/users/mal/servers/second", token=bhub.user_token("mal"), json=GPU)
    assert r.status_code == 403, r.text
    assert r.json()["message"] == "GPU budget (default): 1 of 1 GPU in use, 1 more asked"
    assert not running(bhub, "mal", "second")


def test_the_hubs_default_server_counts_too(bhub: Hub):
    bhub.start_workspace("max", "first", GPU)
    r = bhub.api("POST", "/users/max/server", token=bhub.user_token("max"), json=GPU)
    assert r.status_code == 403, r.text
    assert not running(bhub, "max", "")


def test_the_hubs_form_cannot_start_past_the_workspace_budget(bhub: Hub):
    bhub.start_workspace("solo", "one", CPU)
    session = bhub.login("solo")
    url = f"{bhub.url}/hub/spawn/solo/two"
    session.get(url, timeout=30).raise_for_status()
    form = {"image": CPU["image"], "profile": CPU["profile"], "_xsrf": session.cookies.get("_xsrf", "")}
    r = session.post(url, data=form, timeout=60)
    # the hub shows the refusal (on the form, or on the page that follows the start)
    refusal = "workspace budget (user solo): 1 of 1 running workspace in use, 1 more asked"
    if refusal not in r.text:
        progress = session.get(f"{bhub.url}/hub/api/users/solo/servers/two/progress", timeout=30).text
        assert refusal in progress, (r.status_code, r.text[-1500:], progress[-1500:])
    wait_for(lambda: not running(bhub, "solo", "two"), 30, "the refused start to end")
    assert bhub.server("solo", "one")["ready"]


def test_a_user_sees_their_own_budget_and_nobody_elses(bhub: Hub):
    bhub.start_workspace("vic", "gpu", GPU)
    info = bhub.ws("GET", "/info", token=bhub.user_token("eve")).json()
    assert info["caller"]["name"] == "eve" and info["budget"]["gpus"]["in_use"] == 0  # not vic's GPU
    r = bhub.ws("GET", "/usage", token=bhub.user_token("eve"))
    assert r.status_code == 403 and "vic" not in r.text, r.text
    # refused by the service for what it is (the hub would refuse the listing too, in its own words)
    assert r.json()["error"]["message"] == "the use of every user is for admins (needs the admin:servers scope)"
