"""The data directory stays the hub's own, and a workspace's delete removes that workspace only."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from collections.abc import Iterator

import pytest

from spawner.accounts import account_name

from ..support.hub import Hub
from ..support.kernel import run_in_kernel

pytestmark = pytest.mark.hub


def mode(path: os.PathLike[str]) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    h = Hub(tmp_path_factory.mktemp("datadir")).start()
    try:
        yield h
    finally:
        h.shutdown()


def test_a_new_database_is_private_from_its_first_byte(hub_root: Hub):
    assert mode(hub_root.data_dir / "jupyterhub.sqlite") == 0o600


def test_an_existing_data_dir_and_database_are_made_private_at_start(tmp_path):
    hub = Hub(tmp_path).start()
    try:
        hub.stop()
        # as an older version, or a copy, left them
        for path, loose in [(hub.data_dir, 0o755), (hub.data_dir / "jupyterhub.sqlite", 0o644),
                            (hub.data_dir / "jupyterhub_cookie_secret", 0o644), (hub.data_dir / "workspaces", 0o777)]:
            path.chmod(loose)
        hub.start()
        # 0711: as root, workspace accounts pass through (without listing) to their folders
        assert mode(hub.data_dir) == mode(hub.data_dir / "workspaces") == 0o711
        assert mode(hub.data_dir / "jupyterhub.sqlite") == mode(hub.data_dir / "jupyterhub_cookie_secret") == 0o600
    finally:
        hub.shutdown()


def test_a_workspace_folder_replaced_by_a_symlink_cannot_redirect_its_delete(hub_root: Hub):
    """Where workspaces run as the hub's account (isolation none, or a hub without root), their
    code can replace its own folder with a link to another's; deleting it must remove the link."""
    hub_root.start_workspace("bob", "keep", {"image": "lab"})
    hub_root.start_workspace("mallory", "bait", {"image": "lab"})
    for user, name in (("bob", "keep"), ("mallory", "bait")):
        hub_root.api("DELETE", f"/users/{user}/servers/{name}")
        hub_root.wait_stopped(user, name)
    keep = hub_root.workspace_folder("bob", "keep")
    (keep / "thesis.txt").write_text("years of work")
    bait = hub_root.workspace_folder("mallory", "bait")
    shutil.rmtree(bait)
    bait.symlink_to(keep)

    r = hub_root.api("DELETE", "/users/mallory/servers/bait", json={"remove": True})
    assert r.status_code in (202, 204), r.text
    hub_root.wait_removed("mallory", "bait")
    assert not os.path.lexists(bait)
    assert (keep / "thesis.txt").read_text() == "years of work"


def test_symlinks_inside_a_workspace_folder_are_removed_not_followed(hub_root: Hub, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("not the workspace's")
    hub_root.start_workspace("mallory", "links", {"image": "lab"})
    hub_root.api("DELETE", "/users/mallory/servers/links")
    hub_root.wait_stopped("mallory", "links")
    folder = hub_root.workspace_folder("mallory", "links")
    (folder / "to-a-folder").symlink_to(outside)
    (folder / "to-a-file").symlink_to(outside / "precious.txt")

    r = hub_root.api("DELETE", "/users/mallory/servers/links", json={"remove": True})
    assert r.status_code in (202, 204), r.text
    hub_root.wait_removed("mallory", "links")
    assert not folder.exists()
    assert (outside / "precious.txt").read_text() == "not the workspace's"


def test_a_folder_from_before_isolation_is_handed_over_without_files_linked_in_from_elsewhere(hub_root: Hub):
    """Without isolation a workspace runs as the hub (root) and can hard-link the hub's secrets into
    its folder; once users are isolated, the folder becomes its account's, but never such a file."""
    # the folder as a hub without isolation left it: root's, with the workspace's own file and its loot
    folder = hub_root.workspace_folder("mallory", "old")
    folder.mkdir(mode=0o700)
    (folder / "notes.txt").write_text("mine")
    os.link(hub_root.data_dir / "admin-password", folder / "loot")

    hub_root.start_workspace("mallory", "old", {"image": "lab"})
    account = pwd.getpwnam(account_name("mallory")).pw_uid
    assert folder.stat().st_uid == (folder / "notes.txt").stat().st_uid == account
    assert (hub_root.data_dir / "admin-password").stat().st_uid == 0
    code = "for name in ('notes.txt', 'loot'):\n    try:\n        print(open(name).read())\n    except OSError as e:\n        print(type(e).__name__)\n"
    assert run_in_kernel(hub_root, "mallory", "old", code) == "mine\nPermissionError\n"