"""Warm local starts (spawner.warm): the pool's size and refills, its config, and when a start goes cold."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from spawner import warm
from spawner.local import fill_warm_pools, warm_pool_size
from workspaces.catalog import Catalog, ImageEntry
from workspaces.config import LocalSettings, load_config
from workspaces.errors import ConfigError

from ..support.hub import free_ports, wait_for
from .test_hub_config import hub_config


@pytest.fixture
def fake_python(tmp_path: Path) -> Path:
    """Stands in for a workspaces' Python: a process that waits, and never answers a request."""
    program = tmp_path / "python"
    program.write_text("#!/bin/sh\nexec sleep 60\n")
    program.chmod(0o755)
    return program


@pytest.fixture
def pool(fake_python: Path, tmp_path: Path) -> Iterator[warm.WarmPool]:
    p = warm.WarmPool(str(fake_python), 2, tmp_path / "warm")
    yield p
    p.close()


def image(local: dict) -> ImageEntry:
    return ImageEntry.model_validate({"id": "lab", "display_name": "Lab", "image": "example.org/lab:1", "local": local})


def config_issues(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "workspaces.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(i) for i in info.value.issues]


# -- config -------------------------------------------------------------------------------------------


def test_the_pool_holds_one_warm_process_per_image_by_default():
    assert LocalSettings().warm_pool.size == 1


@pytest.mark.parametrize("size, problem", [(9, "must be <= 8"), (-1, "must be >= 0"), ("two", "must be an integer, not a string")])
def test_the_pool_size_is_an_integer_from_0_to_8(tmp_path: Path, size, problem: str):
    [issue] = config_issues(tmp_path, f"local:\n  warm_pool: {{size: {size}}}\n")
    assert issue == f"local.warm_pool.size: {problem}"


def test_an_images_own_pool_size_overrides_the_hubs():
    hub = LocalSettings.model_validate({"warm_pool": {"size": 2}})
    assert warm_pool_size(image({"python": "default"}), hub) == 2
    assert warm_pool_size(image({"python": "default", "warm_pool": {"size": 0}}), hub) == 0


def test_only_images_with_a_python_runtime_and_a_pool_are_warmed_at_hub_start(tmp_path: Path, monkeypatch):
    started: list[str] = []
    monkeypatch.setattr(warm.WarmPool, "fill", lambda self: started.append(self.python))
    catalog = Catalog(
        (
            image({"python": sys.executable}),
            ImageEntry.model_validate({"id": "off", "display_name": "Off", "image": "x:1",
                                       "local": {"python": sys.executable, "warm_pool": {"size": 0}}}),
            ImageEntry.model_validate({"id": "cmd", "display_name": "Cmd", "image": "x:1",
                                       "local": {"command": ["/bin/sh", "-c", "exit 1"]}}),
        ),
        (),
    )
    try:
        assert fill_warm_pools(catalog, LocalSettings(), tmp_path / "workspaces") == ["lab"]
        assert started == [sys.executable]
    finally:
        warm.close_all()


# -- the pool -----------------------------------------------------------------------------------------


def test_a_pool_starts_its_size(pool: warm.WarmPool):
    pool.fill()
    assert len(pool.processes) == 2
    assert all(p.alive() for p in pool.processes)


def test_taking_a_process_leaves_it_to_the_start_and_a_fill_replaces_it(pool: warm.WarmPool):
    pool.fill()
    taken = pool.take()
    assert taken is not None and taken not in pool.processes and len(pool.processes) == 1
    pool.fill()
    assert len(pool.processes) == 2 and taken not in pool.processes
    taken.kill()


def test_a_dead_warm_process_is_never_taken_and_is_replaced(pool: warm.WarmPool):
    pool.fill()
    first = pool.processes[0]
    first.proc.kill()
    first.proc.wait()
    assert pool.take() is not first
    pool.fill()
    assert first not in pool.processes and len(pool.processes) == 2


def test_a_pool_of_size_0_has_nothing_to_take(fake_python: Path, tmp_path: Path):
    pool = warm.WarmPool(str(fake_python), 0, tmp_path / "warm")
    pool.fill()
    assert pool.processes == [] and pool.take() is None


def test_a_smaller_size_stops_the_extra_processes(fake_python: Path, tmp_path: Path):
    try:
        pool = warm.pool_for("lab", str(fake_python), 2, tmp_path / "warm")
        pool.fill()
        extra = pool.processes[1]
        assert warm.pool_for("lab", str(fake_python), 1, tmp_path / "warm") is pool
        assert len(pool.processes) == 1 and not extra.alive()
    finally:
        warm.close_all()


def test_a_hub_start_removes_the_sockets_a_killed_hub_left(tmp_path: Path):
    folder = tmp_path / "warm"
    folder.mkdir()
    (folder / "warm-0123456789ab.sock").touch()
    fill_warm_pools(Catalog((), ()), LocalSettings(), tmp_path / "workspaces")
    assert list(folder.iterdir()) == []


def test_the_sockets_folder_is_the_hubs_accounts_alone(pool: warm.WarmPool):
    pool.folder.mkdir(mode=0o755)
    pool.fill()
    assert pool.folder.stat().st_mode & 0o777 == 0o700


# -- going cold -----------------------------------------------------------------------------------------


def test_a_warm_process_that_does_not_answer_fails_the_warm_start(pool: warm.WarmPool):
    pool.fill()
    process = pool.take()
    with pytest.raises(warm.WarmStartFailed, match="no answer"):
        asyncio.run(process.become({"env": dict(process.start_env)}))
    process.kill()


@pytest.mark.parametrize("key", ["PYTHONPATH", "LANG", "JUPYTERHUB_SINGLEUSER_EXTENSION"])
def test_a_start_that_sets_what_python_reads_at_start_otherwise_goes_cold(pool: warm.WarmPool, key: str):
    pool.fill()
    process = pool.take()
    env = {**process.start_env, key: "something-else"}
    with pytest.raises(warm.WarmStartFailed, match=key):
        asyncio.run(process.become({"env": env}))
    process.kill()


def test_an_idle_warm_process_dies_with_the_hub_that_started_it(tmp_path: Path):
    """A hub restart must not leak the old hub's warm processes (PR_SET_PDEATHSIG)."""
    socket_path = tmp_path / "warm.sock"
    hub = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import os, subprocess, sys, time
            proc = subprocess.Popen([sys.executable, {str(warm.PROGRAM)!r}, {str(socket_path)!r}, str(os.getpid())])
            print(proc.pid, flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    warm_pid = int(hub.stdout.readline())
    wait_for(socket_path.exists, 30, "the warm process's socket")
    hub.send_signal(signal.SIGKILL)
    hub.wait()

    def gone() -> bool:
        try:
            return Path(f"/proc/{warm_pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True

    wait_for(gone, 10, "the orphaned warm process to die")


def test_loading_the_hub_config_outside_a_running_hub_starts_no_warm_process(tmp_path: Path, monkeypatch):
    """Tools and tests load the config too: only the hub's own event loop fills the pools."""
    hub_config(tmp_path, monkeypatch, {})
    assert warm._pools == {}


def test_a_warm_server_outlives_the_hub_that_started_it(tmp_path: Path):
    """Taken, a warm process is a workspace server: a hub restart must not take it down."""
    socket_path = tmp_path / "warm.sock"
    [port] = free_ports(1)
    request = {"argv": [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)], "env": {},
               "cwd": str(tmp_path), "umask": 0o022, "uid": None}
    hub = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import json, os, socket, subprocess, sys, time
            # the server's own output ("Serving HTTP on ...") must not race this process's line below
            proc = subprocess.Popen([sys.executable, {str(warm.PROGRAM)!r}, {str(socket_path)!r}, str(os.getpid())],
                                    stdout=subprocess.DEVNULL)
            while not os.path.exists({str(socket_path)!r}):
                time.sleep(0.05)
            s = socket.socket(socket.AF_UNIX)
            s.connect({str(socket_path)!r})
            s.sendall(json.dumps({request!r}).encode())
            s.shutdown(socket.SHUT_WR)
            print(proc.pid, s.recv(100).decode(), flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    pid, answer = hub.stdout.readline().split()
    assert answer == "ok"
    hub.send_signal(signal.SIGKILL)
    hub.wait()  # a parent-death signal is sent as the parent exits, before this returns

    def serving() -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_for(serving, 30, "the server to answer after its hub died")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
