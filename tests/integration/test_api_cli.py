"""The workspaces command against the real service of a real hub, through subprocesses.

Each test runs ``.venv/bin/workspaces`` with HOME and XDG_CONFIG_HOME in a temporary
folder and stdin not a terminal. Two workspaces are started in all; both are deleted.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from workspaces.client import Client

from ..support.cleanup import delete_workspace
from ..support.hub import WORKSPACES, Hub

pytestmark = pytest.mark.hub

USER = "api-cli-user"
SHAREE = "api-cli-sharee"


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSPACES_")}
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "COLUMNS": "200"})
    return env


def run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WORKSPACES), *args], capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-home")


@pytest.fixture(scope="module")
def login(hub: Hub, home: Path) -> subprocess.CompletedProcess[str]:
    return run(clean_env(home), "login", hub.url, "--token", hub.user_token(USER))


@pytest.fixture(scope="module")
def env(login: subprocess.CompletedProcess[str], home: Path) -> dict[str, str]:
    assert login.returncode == 0, login.stderr
    return clean_env(home)


@pytest.fixture(scope="module")
def client(hub: Hub) -> Iterator[Client]:
    with Client(hub.url, hub.user_token(USER)) as c:
        yield c


@pytest.fixture(scope="module")
def created(env: dict[str, str], client: Client) -> Iterator[subprocess.CompletedProcess[str]]:
    """`workspaces create cli-one --wait`, deleted at the end."""
    try:
        yield run(env, "create", "cli-one", "--image", "lab", "--profile", "small", "--wait", "--timeout", "90", timeout=120)
    finally:
        delete_workspace(client, USER, "cli-one")


def test_login_writes_the_login_file_readable_by_its_owner_only(hub, home, login):
    assert login.returncode == 0, login.stderr
    path = home / "config" / "workspaces" / "login.json"
    assert json.loads(path.read_text()) == {"url": hub.url, "token": hub.user_token(USER)}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert login.stdout.strip() == f"Logged in to {hub.url} as {USER}; saved in {path}"


def test_login_with_a_bad_token_is_one_line_and_saves_nothing(hub, tmp_path):
    result = run(clean_env(tmp_path), "login", hub.url, "--token", "not-a-token")
    assert result.returncode == 1
    assert result.stderr.startswith(f"workspaces: error: the hub at {hub.url} refused the token: ")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "config" / "workspaces" / "login.json").exists()


def test_create_wait_prints_the_workspace_url(hub, created):
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"{USER}/cli-one is running at {hub.url}/user/{USER}/cli-one/"
    assert "100%" in created.stderr  # progress lines, stderr not being a terminal
    assert "Traceback" not in created.stderr


def test_list_shows_the_workspace_in_a_table(env, created):
    result = run(env, "list", "--owner", USER)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["OWNER", "NAME", "STATE", "IMAGE", "PROFILE", "GPUS", "NAMESPACE", "LAST-ACTIVITY", "WARNING"]
    [row] = [r.split() for r in rows if r.split()[1] == "cli-one"]
    assert row[0] == USER and row[3:7] == ["lab", "small", "0", "-"]


def test_show_json_prints_the_api_json(env, created):
    result = run(env, "show", "cli-one", "--json")
    assert result.returncode == 0, result.stderr
    ws = json.loads(result.stdout)
    assert (ws["owner"], ws["name"], ws["spec"]) == (USER, "cli-one", {"image": "lab", "profile": "small"})
    assert ws["state"] in ("running", "stopping", "stopped")


def test_stop_stops_the_workspace(hub, env, created):
    result = run(env, "stop", "cli-one")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in (f"Stopped {USER}/cli-one", f"Stopping {USER}/cli-one (stopping)")
    hub.wait_stopped(USER, "cli-one")
    assert hub.server(USER, "cli-one") is not None  # stopped, not deleted


def test_share_with_a_user_lists_them_and_unshare_revokes_it(hub, env, created):
    hub.user_token(SHAREE)
    result = run(env, "share", "cli-one", "--user", SHAREE)
    assert (result.returncode, result.stdout) == (0, f"Shared {USER}/cli-one with user {SHAREE}\n"), result.stderr
    listed = run(env, "shares", f"{USER}/cli-one")
    assert listed.stdout.splitlines()[1].split()[:2] == ["user", SHAREE]
    result = run(env, "unshare", f"{USER}/cli-one", "--user", SHAREE)
    assert (result.returncode, result.stdout) == (0, f"Revoked user {SHAREE}'s access to {USER}/cli-one\n")
    assert hub.ws("GET", f"/workspaces/{USER}/cli-one/shares").json()["shares"] == []


def test_share_code_prints_its_link_once_and_unshare_revokes_it_by_id(hub, env, created):
    result = run(env, "share", "cli-one", "--code", "--expires", "1h")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith(f"{hub.url}/hub/accept-share?code=")
    [code] = json.loads(run(env, "shares", "cli-one", "--json").stdout)["codes"]
    assert "code" not in code  # the code itself is shown once, when made
    assert run(env, "unshare", "cli-one", "--code", code["id"]).returncode == 0
    assert hub.ws("GET", f"/workspaces/{USER}/cli-one/shares").json()["codes"] == []


@pytest.mark.parametrize(
    "args, error",
    [
        (["--user", "nobody-of-that-name"], "user: no user named 'nobody-of-that-name' on this hub"),
        (["--code", "--expires", "soon"], "--expires must be a duration such as 600, 90s, 30m, 2h or 1d, not 'soon'"),
    ],
)
def test_a_share_that_cannot_be_made_is_a_one_line_error(env, created, args, error):
    result = run(env, "share", "cli-one", *args)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and error in result.stderr, result.stderr


def test_delete_without_yes_and_without_a_terminal_refuses(hub, env, created):
    result = run(env, "delete", "cli-one")
    assert result.returncode == 1
    assert result.stderr == f"workspaces: error: refusing to delete {USER}/cli-one without confirmation; pass --yes\n"
    assert hub.server(USER, "cli-one") is not None


def test_delete_yes_deletes_the_workspace(env, client):
    client.create_workspace("cli-doomed", image="lab", profile="small")
    try:
        client.wait_ready(USER, "cli-doomed", timeout=90)
        result = run(env, "delete", "cli-doomed", "--yes")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() in (f"Deleted {USER}/cli-doomed", f"Deleting {USER}/cli-doomed")
        client.wait_deleted(USER, "cli-doomed", timeout=60)
    finally:
        delete_workspace(client, USER, "cli-doomed")


def test_a_bad_image_is_a_one_line_error_with_exit_code_1(env):
    result = run(env, "create", "cli-bad", "--image", "no-such-image", "--profile", "small")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("workspaces: error: spec.image: unknown image 'no-such-image'; allowed: lab")
    assert result.stdout == ""


def test_not_logged_in_gives_a_one_line_hint(tmp_path):
    result = run(clean_env(tmp_path), "list")
    assert result.returncode == 1
    assert result.stderr == (
        "workspaces: error: not logged in; run `workspaces login URL` first "
        "(or set WORKSPACES_URL and WORKSPACES_TOKEN)\n"
    )


def test_environment_overrides_the_saved_login(hub, env):
    result = run({**env, "WORKSPACES_TOKEN": "not-a-token"}, "images", "list")
    assert result.returncode == 1
    assert result.stderr.startswith("workspaces: error: ") and "run `workspaces login`" in result.stderr


def test_images_list_shows_the_catalog_offered(env):
    result = run(env, "images", "list")
    assert result.returncode == 0, result.stderr
    ids = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert "lab" in ids and "team-lab" not in ids


def test_an_admin_adds_deprecates_and_removes_an_image(hub, tmp_path):
    admin = {**clean_env(tmp_path), "WORKSPACES_URL": hub.url, "WORKSPACES_TOKEN": hub.admin_token}
    entry = tmp_path / "entry.yaml"
    entry.write_text("id: cli-test\ndisplay_name: CLI test\nimage: example.org/cli-test:1\nlocal: {python: default}\n")
    added = run(admin, "images", "add", "--file", str(entry), "--json")
    assert added.returncode == 0, added.stderr
    try:
        assert json.loads(added.stdout)["display_name"] == "CLI test"
        updated = run(admin, "images", "update", "cli-test", "--display-name", "CLI test 2")
        assert (updated.returncode, updated.stdout.strip()) == (0, "Updated image cli-test"), updated.stderr
        deprecated = run(admin, "images", "deprecate", "cli-test", "--message", "Use lab.", "--json")
        assert json.loads(deprecated.stdout)["deprecated"] == "Use lab."
        assert json.loads(deprecated.stdout)["display_name"] == "CLI test 2"
    finally:
        removed = run(admin, "images", "remove", "cli-test")
    assert (removed.returncode, removed.stdout.strip()) == (0, "Removed image cli-test"), removed.stderr
    gone = run(admin, "images", "show", "cli-test")
    assert gone.returncode == 1 and gone.stderr.startswith("workspaces: error: ")


def test_profiles_and_namespaces_list(env):
    profiles = run(env, "profiles", "list")
    assert profiles.returncode == 0, profiles.stderr
    assert "small" in [line.split()[0] for line in profiles.stdout.splitlines()[1:]]
    namespaces = run(env, "namespaces", "list", "--json")
    assert json.loads(namespaces.stdout) == {"backend": "local", "items": []}
