"""A hub without root cannot isolate users, so it runs one hub user's workspaces only, unless
local.isolation none says to share its account. The hub runs as an OS account the tests make."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..support.hub import Hub

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def hub_account() -> Iterator[str]:
    """An unprivileged OS account to run the hub as; removed afterwards (the product never removes one)."""
    name = f"wstest-{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False)


@pytest.fixture
def root() -> Iterator[Path]:
    """The hub's folder, outside pytest's (0700, which its account could not enter)."""
    path = Path(tempfile.mkdtemp(prefix="wstest-hub-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def hub_as(account: str, root: Path, **settings: Any) -> Hub:
    return Hub(root, os_user=account, settings=settings)


def test_a_hub_without_root_refuses_a_second_users_workspace(hub_account, root):
    hub = hub_as(hub_account, root).start()
    try:
        hub.start_workspace("alice", "lab", {"image": "lab"})
        r = hub.api("POST", "/users/bob/servers/lab", token=hub.user_token("bob"), json={"image": "lab"})
        assert r.status_code == 403, r.text
        message = r.json()["message"]
        assert "alice/lab belongs to another user" in message and "local.isolation: none" in message
        assert not hub.workspace_folder("bob", "lab").exists()
        hub.start_workspace("alice", "second", {"image": "lab"})  # alice's own: still fine
    finally:
        hub.shutdown()


def test_a_hub_without_root_runs_everyones_workspaces_with_isolation_none(hub_account, root):
    hub = hub_as(hub_account, root, local={"isolation": "none"}).start()
    try:
        hub.start_workspace("alice", "lab", {"image": "lab"})
        hub.start_workspace("bob", "lab", {"image": "lab"})
    finally:
        hub.shutdown()


def test_isolation_users_without_root_stops_the_hub_with_one_line(hub_account, root):
    hub = hub_as(hub_account, root, local={"isolation": "users"})
    with pytest.raises(RuntimeError, match="hub exited with 1"):
        hub.start()
    assert "local.isolation users needs the hub to run as root" in hub.log()
    assert "Traceback" not in hub.log()
