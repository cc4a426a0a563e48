"""Workspaces on the local backend, through JupyterHub's own REST API and the real proxy."""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from spawner.accounts import account_name

from ..support.hub import DATA, Hub, listening_addresses, process_cgroup, process_data_limit, process_env, wait_for
from ..support.kernel import run_in_kernel

pytestmark = pytest.mark.hub


# An entry with an environment of its own (spawner.local_envs): a tiny pure-Python package, pinned,
# that the tests' own environment lacks, so importing it shows which environment a kernel runs.
ENV_ENTRY = {
    "id": "lab-env",
    "display_name": "Lab with inflection",
    "image": "example.org/lab-env:1",
    "local": {"requirements": ["inflection==0.5.1"], "warm_pool": {"size": 1}},
}
# One whose build fails: its package is on no index (an empty one, so no network either).
BROKEN_ENV_ENTRY = {
    "id": "lab-env-broken",
    "display_name": "Lab that cannot be built",
    "image": "example.org/lab-env-broken:1",
    "local": {"requirements": ["no-such-package-anywhere==1"], "index_url": "file:///nonexistent-index"},
}


@pytest.fixture(scope="module")
def warm_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub whose image 'lab' keeps one warm process (spawner.warm); the others start cold.
    'lab-env' (ENV_ENTRY) keeps one once its environment is built."""
    root = tmp_path_factory.mktemp("warm")
    catalog = yaml.safe_load((DATA / "catalog.yaml").read_text())
    for image in catalog["images"]:
        if image["id"] == "lab":
            image["local"]["warm_pool"] = {"size": 1}
    catalog["images"] += [ENV_ENTRY, BROKEN_ENV_ENTRY]
    (root / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    # a start is answered at once (202), so its whole progress stream can be read
    quick = 'c.JupyterHub.tornado_settings.update({"slow_spawn_timeout": 0})\n'
    h = Hub(root, catalog=root / "catalog.yaml", extra_config=quick).start()
    try:
        yield h
    finally:
        h.shutdown()


@pytest.fixture(scope="module", params=["cold", "warm"])
def lab_hub(request: pytest.FixtureRequest) -> Hub:
    """The hub the user-facing tests run on: each runs once on a cold start and once on a warm one."""
    return request.getfixturevalue("hub" if request.param == "cold" else "warm_hub")


@pytest.fixture(scope="module")
def alice_workspace(hub: Hub) -> Iterator[dict]:
    """A running workspace of alice's, shared by the read-only tests below."""
    server = hub.start_workspace("alice", "analysis", {"image": "lab", "profile": "small"})
    yield server
    hub.api("DELETE", "/users/alice/servers/analysis")
    hub.wait_stopped("alice", "analysis")


@pytest.fixture(scope="module")
def alice_lab(lab_hub: Hub, request: pytest.FixtureRequest) -> Iterator[dict]:
    """alice's workspace 'analysis' on ``lab_hub``: started cold, or warm."""
    if lab_hub is request.getfixturevalue("hub"):
        yield request.getfixturevalue("alice_workspace")
        return
    server = lab_hub.start_workspace("alice", "analysis", {"image": "lab", "profile": "small"})
    # really warm, or the cold start would be tested twice
    assert "Started alice:analysis warm" in lab_hub.log()
    yield server
    lab_hub.api("DELETE", "/users/alice/servers/analysis")
    lab_hub.wait_stopped("alice", "analysis")


def write_file(hub: Hub, user: str, name: str, path: str, text: str) -> None:
    token = hub.user_token(user)
    r = requests.put(
        f"{hub.url}/user/{user}/{name}/api/contents/{path}",
        headers={"Authorization": f"token {token}"},
        json={"type": "file", "format": "text", "content": text},
        timeout=30,
    )
    assert r.status_code in (200, 201), r.text


def read_file(hub: Hub, user: str, name: str, path: str) -> str:
    r = hub.get(f"/user/{user}/{name}/api/contents/{path}", token=hub.user_token(user))
    assert r.status_code == 200, r.text
    return r.json()["content"]


def test_server_is_reachable_through_the_proxy(lab_hub, alice_lab):
    hub = lab_hub
    r = hub.get("/user/alice/analysis/api/status", token=hub.user_token("alice"))
    assert r.status_code == 200
    assert "kernels" in r.json()


def test_accepted_spec_is_stored_explicitly(hub, alice_workspace):
    assert hub.server("alice", "analysis")["user_options"] == {"image": "lab", "profile": "small"}


def test_server_runs_in_its_own_folder_with_the_profile_limits(lab_hub, alice_lab):
    hub = lab_hub
    pid = hub.state("alice", "analysis")["pid"]
    folder = hub.workspace_folder("alice", "analysis")
    assert os.readlink(f"/proc/{pid}/cwd") == str(folder)
    env = process_env(pid)
    assert env["HOME"] == str(folder)
    assert env["MEM_LIMIT"] == str(2 * 2**30)
    assert env["CPU_LIMIT"] == "1.0"
    assert env["MEM_GUARANTEE"] == str(2**30)
    assert env["CPU_GUARANTEE"] == "0.5"
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    assert env["WORKSPACE_IMAGE"] == "lab"
    # cgroup v2 where the machine delegates it (the whole workspace), RLIMIT_DATA otherwise (per process)
    cgroup = process_cgroup(pid)
    if cgroup.name == f"workspace-{folder.name}":
        assert (cgroup / "memory.max").read_text().strip() == str(2 * 2**30)
    else:
        assert process_data_limit(pid) == str(2 * 2**30)


def test_server_listens_on_loopback_only(lab_hub, alice_lab):
    hub = lab_hub
    pid = hub.state("alice", "analysis")["pid"]
    url = process_env(pid)["JUPYTERHUB_SERVICE_URL"]
    assert url.startswith("http://127.0.0.1:")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    assert listening_addresses(port) == {"127.0.0.1"}


def test_server_runs_as_its_users_own_account_and_never_as_root(lab_hub, alice_lab):
    hub = lab_hub
    pid = hub.state("alice", "analysis")["pid"]
    args = open(f"/proc/{pid}/cmdline").read().split("\0")
    assert "--allow-root" not in args
    # a hub run as root isolates (local.isolation auto); without root there is one account
    own = pwd.getpwnam(account_name("alice")).pw_uid if os.geteuid() == 0 else os.geteuid()
    assert Path(f"/proc/{pid}").stat().st_uid == own != 0


def test_another_user_cannot_reach_the_workspace(lab_hub, alice_lab):
    hub = lab_hub
    r = hub.get("/user/alice/analysis/api/status", token=hub.user_token("bob"))
    assert r.status_code == 403


def test_jupyterlab_is_served_at_the_default_url(lab_hub, alice_lab):
    r = lab_hub.get("/user/alice/analysis/lab", token=lab_hub.user_token("alice"))
    assert r.status_code == 200
    assert "JupyterLab" in r.text


def test_code_runs_in_the_folder_with_the_workspaces_variables_and_account(lab_hub, alice_lab):
    """What the user's own code sees, the server's environment as its kernels inherit it."""
    code = "import os\nprint(os.getcwd(), os.environ['HOME'], os.environ['MEM_LIMIT'], os.environ['WORKSPACE_IMAGE'], os.getuid())\n"
    folder = lab_hub.workspace_folder("alice", "analysis")
    own = pwd.getpwnam(account_name("alice")).pw_uid if os.geteuid() == 0 else os.geteuid()
    assert run_in_kernel(lab_hub, "alice", "analysis", code) == f"{folder} {folder} {2 * 2**30} lab {own}\n"


def test_a_warm_start_that_fails_starts_cold(warm_hub):
    """Never fail a user's start because of the pool: the warm process is there, but unreachable."""
    sockets = warm_hub.data_dir / "warm"
    wait_for(lambda: list(sockets.glob("warm-*.sock")), 60, "a warm process of 'lab'")
    for path in sockets.glob("warm-*.sock"):
        path.unlink()
    warm_hub.start_workspace("alice", "fallback", {"image": "lab"})
    assert "Warm start of alice:fallback failed, starting cold" in warm_hub.log()
    r = warm_hub.get("/user/alice/fallback/api/status", token=warm_hub.user_token("alice"))
    assert r.status_code == 200
    warm_hub.api("DELETE", "/users/alice/servers/fallback")
    warm_hub.wait_stopped("alice", "fallback")


def test_a_user_cannot_start_a_server_for_another_user(hub):
    r = hub.api("POST", "/users/bob/servers/stolen", token=hub.user_token("alice"), json={"image": "lab"})
    assert r.status_code in (403, 404)
    assert hub.server("bob", "stolen") is None


def test_a_user_can_run_several_named_workspaces(hub, alice_workspace):
    hub.start_workspace("alice", "second", {"image": "old-lab"})
    try:
        servers = hub.api("GET", "/users/alice").json()["servers"]
        assert servers["analysis"]["ready"] and servers["second"]["ready"]
    finally:
        hub.api("DELETE", "/users/alice/servers/second")
        hub.wait_stopped("alice", "second")


def test_stop_keeps_files_and_delete_removes_the_folder(hub):
    user, name = "carol", "notes"
    hub.start_workspace(user, name, {"image": "lab", "profile": "medium"})
    write_file(hub, user, name, "hello.txt", "written before the stop")
    folder = hub.workspace_folder(user, name)
    assert (folder / "hello.txt").read_text() == "written before the stop"

    r = hub.api("DELETE", f"/users/{user}/servers/{name}", token=hub.user_token(user))
    assert r.status_code in (202, 204)
    hub.wait_stopped(user, name)
    assert (folder / "hello.txt").exists(), "a stop must keep the workspace's files"

    # start again without a body: the stored spec is reused
    r = hub.api("POST", f"/users/{user}/servers/{name}", token=hub.user_token(user))
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user, name)
    assert read_file(hub, user, name, "hello.txt") == "written before the stop"
    assert hub.server(user, name)["user_options"] == {"image": "lab", "profile": "medium"}

    r = hub.api("DELETE", f"/users/{user}/servers/{name}", token=hub.user_token(user), json={"remove": True})
    assert r.status_code in (202, 204)
    hub.wait_removed(user, name)
    assert not folder.exists()


def test_renaming_a_stopped_workspace_moves_its_folder(hub):
    user = "ren"
    hub.start_workspace(user, "draft", {"image": "lab"})
    write_file(hub, user, "draft", "keep.txt", "mine")
    hub.api("DELETE", f"/users/{user}/servers/draft")
    hub.wait_stopped(user, "draft")

    r = hub.api("PATCH", f"/users/{user}/servers/draft", token=hub.user_token(user), json={"name": "final"})
    assert r.status_code == 200, r.text
    assert not hub.workspace_folder(user, "draft").exists()
    assert (hub.workspace_folder(user, "final") / "keep.txt").read_text() == "mine"

    # a folder already in the way is never merged into or overwritten
    hub.workspace_folder(user, "taken").mkdir()
    r = hub.api("PATCH", f"/users/{user}/servers/final", token=hub.user_token(user), json={"name": "taken"})
    assert r.status_code == 409
    assert "already exists" in r.json()["message"]
    assert (hub.workspace_folder(user, "final") / "keep.txt").exists()
    hub.api("DELETE", f"/users/{user}/servers/final", json={"remove": True})
    hub.wait_removed(user, "final")


@pytest.mark.parametrize(
    "spec, field, detail",
    [
        ({"image": "nope"}, "image", "allowed: lab, cuda, old-lab"),
        ({"profile": "huge"}, "profile", "allowed: small, medium, gpu-1"),
        ({"image": "team-lab"}, "image", "not available to you"),
        ({"profile": "big"}, "profile", "not available to you"),
        ({"image": "code-server"}, "image", "cannot run on the local backend"),
        ({"image": "lab", "gpus": "1"}, "gpus", "must be an integer"),
        ({"image": "lab", "colour": "blue"}, "colour", "unknown key; allowed keys: image, custom_image, profile"),
        ({"image": "cuda", "profile": "gpu-1"}, "", "requested but this machine has 0"),
        ({"namespace": "team-a"}, "namespace", "not supported by the local backend"),
    ],
)
def test_invalid_spec_is_refused_with_400_naming_the_field(hub, spec, field, detail):
    r = hub.api("POST", "/users/dave/servers/bad", token=hub.user_token("dave"), json=spec)
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert detail in message
    if field:
        assert f"{field}: " in message
    server = hub.server("dave", "bad")
    assert server is None or not (server["ready"] or server["pending"])
    assert not hub.workspace_folder("dave", "bad").exists()


def test_user_options_wrapper_form_is_accepted_and_validated(hub):
    r = hub.api(
        "POST", "/users/dave/servers/wrapped", token=hub.user_token("dave"), json={"user_options": {"image": 3}}
    )
    assert r.status_code == 400
    assert "image: must be a string" in r.json()["message"]


def test_joining_a_group_unlocks_its_image(hub):
    form = hub.spawn_form("erin", "team")
    assert "Test Lab" in form and "Team Lab" not in form
    assert hub.api("POST", "/groups/team").status_code in (201, 409)
    assert hub.api("POST", "/groups/team/users", json={"users": ["erin"]}).status_code == 200
    assert "Team Lab" in hub.spawn_form("erin", "team")
    hub.start_workspace("erin", "team", {"image": "team-lab"})
    hub.api("DELETE", "/users/erin/servers/team")
    hub.wait_stopped("erin", "team")


def test_spawn_form_shows_catalog_and_profiles_with_defaults_selected(hub):
    html = hub.spawn_form("frank", "new")
    for text in ("Test Lab", "Test CUDA", "Old Lab", "Small", "Medium", "One GPU", "1 CPU, 2 GiB"):
        assert text in html
    assert 'value="lab" aria-describedby="image-lab-desc"\n               checked' in html
    assert 'value="small" aria-describedby="profile-small-desc"\n               checked' in html
    assert "Deprecated: Use Test Lab instead." in html
    assert "Unavailable on the local backend" in html  # code-server, shown with its reason
    assert "Team Lab" not in html and "Big (restricted)" not in html


def start_and_follow(hub: Hub, user: str, name: str, spec: dict | None = None) -> list[dict]:
    """Start ``user``'s workspace through the hub's REST API; its progress events until ready or failed."""
    r = hub.api("POST", f"/users/{user}/servers/{name}", token=hub.user_token(user), json=spec or {})
    assert r.status_code == 202, r.text
    events = []
    with hub.api("GET", f"/users/{user}/servers/{name}/progress", token=hub.user_token(user), stream=True) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1].get("ready") or events[-1].get("failed"):
                    return events
    raise AssertionError(f"the progress stream of {user}/{name} ended before ready: {events}")


def start_messages(hub: Hub, user: str, name: str, spec: dict | None = None) -> list[str]:
    """The messages of a start that must succeed."""
    events = start_and_follow(hub, user, name, spec)
    assert events[-1].get("ready"), events
    return [e.get("message") for e in events]


@dataclass
class EnvStart:
    messages: list[str]
    env: Path


@pytest.fixture(scope="module")
def env_workspace(warm_hub: Hub) -> Iterator[EnvStart]:
    """gil's workspace of 'lab-env', started once: the entry's first start, which builds its environment."""
    messages = start_messages(warm_hub, "gil", "env", {"image": "lab-env", "profile": "small"})
    [env] = (warm_hub.data_dir / "envs").glob("lab-env-*")
    yield EnvStart(messages, env)
    warm_hub.api("DELETE", "/users/gil/servers/env")
    warm_hub.wait_stopped("gil", "env")


def test_an_entrys_first_start_builds_its_environment_in_the_progress_stream(env_workspace):
    assert env_workspace.messages[:2] == ["Server requested", "Building the environment for Lab with inflection (first start only)"]
    assert "Building the environment for Lab with inflection (first start only): installing inflection ..." in env_workspace.messages


def test_an_entrys_kernels_and_terminals_use_what_its_environment_holds(warm_hub, env_workspace):
    code = "import os, sys, inflection\nprint(inflection.__version__, sys.prefix, os.environ['PATH'].split(':')[0])\n"
    env = env_workspace.env
    assert run_in_kernel(warm_hub, "gil", "env", code) == f"0.5.1 {env} {env / 'bin'}\n"


def test_a_failed_build_fails_the_start_with_pips_error_and_leaves_nothing(warm_hub):
    events = start_and_follow(warm_hub, "hal", "broken", {"image": "lab-env-broken", "profile": "small"})
    assert events[-1]["failed"]
    assert events[-1]["message"].endswith(
        "Building the environment for Lab that cannot be built failed (python -m pip exited with status 1): "
        "ERROR: Could not find a version that satisfies the requirement no-such-package-anywhere==1 (from versions: none) "
        "ERROR: No matching distribution found for no-such-package-anywhere==1"
    )
    assert not list((warm_hub.data_dir / "envs").glob("lab-env-broken-*"))
    assert not list((warm_hub.data_dir / "envs" / ".builds").glob("lab-env-broken-*"))


def test_a_later_start_reuses_the_environment_and_starts_it_cold(warm_hub, env_workspace):
    """Under isolation (the tests run as root) an entry's own environment is never warm: its
    packages' .pth files would run as root in a warm process (tests/security/test_local_warm.py)."""
    started_with = warm_hub.log().split("warm starts for ")[1].split("\n")[0]
    assert started_with == "lab"
    warm_hub.api("DELETE", "/users/gil/servers/env")
    warm_hub.wait_stopped("gil", "env")
    messages = start_messages(warm_hub, "gil", "env")
    assert messages[:2] == ["Server requested", "Spawning server..."]  # no build
    assert "Started gil:env warm" not in warm_hub.log()
    [build] = (warm_hub.data_dir / "envs" / ".builds").iterdir()
    assert env_workspace.env.resolve() == build
