"""The OS account of each hub user (spawner.accounts): names useradd accepts, one per user; and
local.isolation, which says whether there are any."""

from __future__ import annotations

import re

import pytest
import yaml

from spawner.accounts import MAX_ACCOUNT_NAME, account_name
from workspaces.config import LocalSettings, load_config
from workspaces.errors import ConfigError

# useradd's default NAME_REGEX
VALID = re.compile(r"[a-z_][a-z0-9_-]*")


@pytest.mark.parametrize(
    "user, account",
    [
        ("alice", "jupyter-alice"),
        ("Alice", "jupyter--41lice"),
        ("a.b@example.org", "jupyter-a-2eb-40example-2eorg"),
        ("x" * 40, "jupyter-xxxxxxxxxxxx-h4a244b76c3"),
    ],
)
def test_account_names_are_escaped_and_cut_with_a_hash(user, account):
    assert account_name(user) == account


@pytest.mark.parametrize("user", ["alice", "Alice", "ALICE", "al ice", "../root", "root", "é", "x" * 200, "-"])
def test_every_account_name_is_valid_for_useradd_and_never_root(user):
    name = account_name(user)
    assert VALID.fullmatch(name) and len(name) <= MAX_ACCOUNT_NAME
    assert name.startswith("jupyter-") and name != "root"


def test_two_users_never_share_an_account():
    users = ["alice", "Alice", "alice-", "alice_", "a" * 60, "a" * 61]
    assert len({account_name(u) for u in users}) == len(users)


@pytest.mark.parametrize(
    "setting, euid, mode",
    [("auto", 0, "users"), ("auto", 1000, "single-user"), ("users", 0, "users"), ("none", 0, "none"), ("none", 1000, "none")],
)
def test_isolation_auto_isolates_as_root_and_allows_one_user_otherwise(setting, euid, mode):
    assert LocalSettings(isolation=setting).isolation_mode(euid) == mode


@pytest.mark.parametrize(
    "local, message",
    [
        ({"isolation": "strict"}, "local.isolation: must be one of: 'auto', 'users', 'none'"),
        ({"python": "venv/bin/python"}, "local.python must be an absolute path"),
    ],
)
def test_bad_local_settings_get_one_line_naming_what_is_allowed(tmp_path, local, message):
    path = tmp_path / "workspaces.yaml"
    path.write_text(yaml.safe_dump({"local": local}))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert any(message in line for line in e.value.lines()), e.value.lines()
