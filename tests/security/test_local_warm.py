"""Attacks on warm local starts (spawner.warm), with the hub run as root (so workspaces run as their
users' accounts): a workspace asks a warm process for a server of its own choosing, or looks in its
own warm server for what the hub or the warm process had.

A warm server is compared with a cold one of the same user on the same hub.
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from spawner.accounts import account_name
from spawner.local import fill_warm_pools
from spawner.warm import close_all
from workspaces.catalog import Catalog, ImageEntry, Profile
from workspaces.config import LocalSettings

from ..support.hub import DATA, Hub, process_env, wait_for
from ..support.kernel import run_in_kernel

pytestmark = pytest.mark.hub

PROXY_TOKEN = "proxy-token-that-no-warm-server-may-hold"


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub as root, with the proxy's token in its environment, whose image 'lab' keeps one warm
    process; alice runs 'warm' (lab, started warm) and 'cold' (old-lab, no pool)."""
    root = tmp_path_factory.mktemp("warm-attacks")
    catalog = yaml.safe_load((DATA / "catalog.yaml").read_text())
    for image in catalog["images"]:
        if image["id"] == "lab":
            image["local"]["warm_pool"] = {"size": 1}
    (root / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    h = Hub(root, catalog=root / "catalog.yaml", env={"CONFIGPROXY_AUTH_TOKEN": PROXY_TOKEN}).start()
    try:
        h.start_workspace("alice", "warm", {"image": "lab"})
        assert "Started alice:warm warm" in h.log()
        h.start_workspace("alice", "cold", {"image": "old-lab"})
        yield h
    finally:
        h.shutdown()


def server(hub: Hub, name: str) -> int:
    return hub.state("alice", name)["pid"]


def idle_sockets(hub: Hub) -> list[Path]:
    """The sockets of the warm processes waiting for a start (the pool refills after each take)."""
    return wait_for(lambda: list((hub.data_dir / "warm").glob("warm-*.sock")), 60, "a refilled warm process")


def unix_socket_paths() -> dict[str, str]:
    """Socket inode -> the path it is bound to (listening and accepted sockets both show it)."""
    paths = {}
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8:
            paths[fields[6]] = fields[7]
    return paths


def fds(pid: int) -> dict[int, str]:
    return {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}


def memory_holds(pid: int, needles: set[bytes]) -> set[bytes]:
    """Which of ``needles`` are anywhere in the process's readable memory (its own code can read it all)."""
    found = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            if "r" not in line.split()[1]:
                continue
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except OSError:
                continue  # [vvar] and the like
            found |= {n for n in needles if n in chunk}
    return found


def test_alices_code_cannot_ask_a_warm_process_for_a_server(warm: Hub):
    """The request channel is the hub's alone: else alice could ask for a server as root, or in
    bob's folder, or with bob's variables."""
    [path] = idle_sockets(warm)
    code = (
        "import json, socket\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        f"    s.connect({str(path)!r})\n"
        "    s.sendall(json.dumps({'uid': 0, 'cwd': '/root'}).encode())\n"
        "    print('connected')\n"
        "except OSError as e:\n"
        "    print(type(e).__name__)\n"
    )
    assert run_in_kernel(warm, "alice", "warm", code) == "PermissionError\n"


def test_a_warm_server_holds_no_file_descriptor_of_the_warm_process(warm: Hub):
    warm_fds, cold_fds = fds(server(warm, "warm")), fds(server(warm, "cold"))
    # stdin, stdout and stderr: the hub's, as a cold start's
    assert [warm_fds[i] for i in (0, 1, 2)] == [cold_fds[i] for i in (0, 1, 2)]
    bound = unix_socket_paths()
    folder = str(warm.data_dir / "warm")
    inherited = {
        fd: bound[m.group(1)]
        for fd, target in warm_fds.items()
        if (m := re.fullmatch(r"socket:\[(\d+)\]", target)) and bound.get(m.group(1), "").startswith(folder)
    }
    assert inherited == {}


def test_a_warm_server_has_a_cold_ones_variables_and_none_of_the_hubs(warm: Hub):
    warm_env, cold_env = process_env(server(warm, "warm")), process_env(server(warm, "cold"))
    assert warm_env.keys() == cold_env.keys()
    assert warm_env["HOME"] == str(warm.workspace_folder("alice", "warm"))
    assert PROXY_TOKEN not in warm_env.values()


def test_a_warm_servers_memory_holds_none_of_the_hubs_secrets(warm: Hub):
    """The variables a process starts with stay in its memory, where the user's code can read them:
    a warm process must never have started with the hub's."""
    cookie_secret = (warm.data_dir / "jupyterhub_cookie_secret").read_text().strip()
    needles = {PROXY_TOKEN.encode(), cookie_secret.encode()}
    assert memory_holds(warm.proc.pid, {PROXY_TOKEN.encode()})  # the hub has it: the scan finds it
    assert memory_holds(server(warm, "warm"), needles) == set()


def test_a_warm_server_runs_as_alices_account_and_groups_never_root(warm: Hub):
    account = pwd.getpwnam(account_name("alice"))
    status = dict(line.split(":", 1) for line in Path(f"/proc/{server(warm, 'warm')}/status").read_text().splitlines())
    assert status["Uid"].split() == [str(account.pw_uid)] * 4  # real, effective, saved, filesystem
    assert status["Gid"].split() == [str(account.pw_gid)] * 4
    assert {int(g) for g in status["Groups"].split()} == set(os.getgrouplist(account.pw_name, account.pw_gid))


def test_a_catalog_admins_interpreter_never_runs_as_root_in_a_warm_process(tmp_path: Path):
    """Warm processes run as root until taken (only root becomes the workspace's account): an
    interpreter a catalog admin names through the API (local.python, or an entry's own
    environment) would be their code run as root. The tests run as root, so users are isolated."""
    marker = tmp_path / "ran-as"
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\nid -u > {marker}\n")
    script.chmod(0o755)
    entry = ImageEntry(id="planted", display_name="Planted", image="x",
                       local={"python": str(script), "warm_pool": {"size": 1}})
    catalog = Catalog(images=(entry,), profiles=(Profile(id="s", display_name="S", default=True),))
    local = LocalSettings()
    assert local.isolation_mode(os.geteuid()) == "users"
    try:
        assert fill_warm_pools(catalog, local, tmp_path / "workspaces") == []
    finally:
        close_all()
    assert not marker.exists()
