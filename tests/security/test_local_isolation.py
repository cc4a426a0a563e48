"""Alice's code attacks Bob and the hub on the local backend, with the hub run as root (so
local.isolation auto isolates: each user's workspaces run as their own OS account).

Each attack runs in Alice's kernel, through her server's API, as her code would.
"""

from __future__ import annotations

import os
import pwd
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from spawner.accounts import account_name

from ..support.hub import DATA, Hub, process_env
from ..support.kernel import run_in_kernel

pytestmark = pytest.mark.hub

PROXY_TOKEN = "proxy-token-that-no-workspace-may-see"
LIMIT = 2**30  # the "tight" profile's memory


def read_attempt(path: str | Path) -> str:
    """Kernel code: print the file's text, or the error that stopped the read."""
    return f"try:\n    print(open({str(path)!r}).read())\nexcept OSError as e:\n    print(type(e).__name__)\n"


@pytest.fixture(scope="module")
def two_users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub as root with running workspaces of alice and bob; bob keeps a secret in his."""
    root = tmp_path_factory.mktemp("isolation")
    profiles = yaml.safe_load((DATA / "profiles.yaml").read_text())
    profiles["profiles"].append({"id": "tight", "display_name": "Tight", "memory": {"limit": "1Gi"}})
    (root / "profiles.yaml").write_text(yaml.safe_dump(profiles))
    # a hub that has the proxy's token in its environment, as the Helm chart's does
    h = Hub(root, profiles=root / "profiles.yaml", env={"CONFIGPROXY_AUTH_TOKEN": PROXY_TOKEN}).start()
    try:
        h.start_workspace("alice", "lab", {"image": "lab", "profile": "tight"})
        h.start_workspace("bob", "lab", {"image": "lab"})
        assert run_in_kernel(h, "bob", "lab", "open('secret.txt', 'w').write('bob-secret'); print('saved')") == "saved\n"
        yield h
    finally:
        h.shutdown()


def bobs_server(hub: Hub) -> int:
    return hub.state("bob", "lab")["pid"]


def test_alices_code_cannot_read_bobs_files(two_users: Hub):
    secret = two_users.workspace_folder("bob", "lab") / "secret.txt"
    assert secret.read_text() == "bob-secret"  # it is there
    out = run_in_kernel(two_users, "alice", "lab", read_attempt(secret))
    assert out == "PermissionError\n"


def test_alices_code_cannot_list_the_workspace_folders(two_users: Hub):
    code = f"import os\ntry:\n    print(os.listdir({str(two_users.data_dir / 'workspaces')!r}))\nexcept OSError as e:\n    print(type(e).__name__)\n"
    assert run_in_kernel(two_users, "alice", "lab", code) == "PermissionError\n"


@pytest.mark.parametrize("name", ["admin-password", "jupyterhub_cookie_secret", "jupyterhub.sqlite"])
def test_alices_code_cannot_read_the_hubs_secrets_or_database(two_users: Hub, name: str):
    path = two_users.data_dir / name
    assert path.stat().st_size > 0
    assert run_in_kernel(two_users, "alice", "lab", read_attempt(path)) == "PermissionError\n"


@pytest.mark.parametrize("whose", ["bob's server", "the hub", "the proxy"])
def test_alices_code_cannot_read_other_processes_environments(two_users: Hub, whose: str):
    pid = {
        "bob's server": bobs_server(two_users),
        "the hub": two_users.proc.pid,
        "the proxy": int((two_users.data_dir / "jupyterhub-proxy.pid").read_text()),
    }[whose]
    assert process_env(pid)  # readable by root, and not empty
    out = run_in_kernel(two_users, "alice", "lab", read_attempt(f"/proc/{pid}/environ"))
    assert out == "PermissionError\n"
    assert process_env(bobs_server(two_users))["JUPYTERHUB_API_TOKEN"] not in out


def test_no_server_gets_the_hubs_secrets_in_its_environment(two_users: Hub):
    env = process_env(bobs_server(two_users))
    secrets = {
        PROXY_TOKEN,
        (two_users.data_dir / "admin-password").read_text().strip(),
        (two_users.data_dir / "jupyterhub_cookie_secret").read_text().strip(),
    }
    assert not {"CONFIGPROXY_AUTH_TOKEN", "JPY_COOKIE_SECRET"} & env.keys()
    assert not secrets & set(env.values())


def test_workspaces_run_as_their_users_accounts_in_folders_only_they_can_enter(two_users: Hub):
    for user in ("alice", "bob"):
        account = pwd.getpwnam(account_name(user))
        assert account.pw_uid != 0 and account.pw_gid != 0
        assert Path(f"/proc/{two_users.state(user, 'lab')['pid']}").stat().st_uid == account.pw_uid
        folder = two_users.workspace_folder(user, "lab").stat()
        assert (folder.st_uid, stat.S_IMODE(folder.st_mode)) == (account.pw_uid, 0o700)
    assert pwd.getpwnam(account_name("alice")).pw_uid != pwd.getpwnam(account_name("bob")).pw_uid


def test_a_memory_hog_cannot_lift_its_limit_and_its_neighbour_runs_on(two_users: Hub):
    hog = (
        "import resource\n"
        "try:\n"
        "    resource.setrlimit(resource.RLIMIT_DATA, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
        "except (ValueError, OSError):\n"
        "    pass\n"
        "try:\n"
        f"    block = bytearray({2 * LIMIT}); block[::4096] = b'x' * len(block[::4096]); print('allocated')\n"
        "except MemoryError:\n"
        "    print('MemoryError')\n"
    )
    out = run_in_kernel(two_users, "alice", "lab", hog)
    # refused (RLIMIT), or the kernel killed (a cgroup's OOM killer)
    assert out in ("MemoryError\n", "[kernel dead]", "[kernel restarting]"), out
    assert run_in_kernel(two_users, "bob", "lab", "print(6 * 7)") == "42\n"


def test_alices_code_cannot_signal_bobs_server(two_users: Hub):
    pid = bobs_server(two_users)
    code = f"import os\ntry:\n    os.kill({pid}, {int(signal.SIGKILL)}); print('sent')\nexcept OSError as e:\n    print(type(e).__name__)\n"
    assert run_in_kernel(two_users, "alice", "lab", code) == "PermissionError\n"
    os.kill(pid, 0)  # still there
    assert two_users.get("/user/bob/lab/api/status", token=two_users.user_token("bob")).status_code == 200
