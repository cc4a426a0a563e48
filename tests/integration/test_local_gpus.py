"""GPUs on the local backend: detected with nvidia-smi, leased whole and exclusively."""

from __future__ import annotations

import os
import signal

import pytest
from playwright.sync_api import expect

from ..support.browser import log_in
from ..support.fake_nvidia_smi import write_fake_nvidia_smi
from ..support.hub import Hub, process_env, wait_for

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def gpu_hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu")
    fake = write_fake_nvidia_smi(root, 1)
    h = Hub(root, settings={"local": {"gpus": "auto", "nvidia_smi": str(fake)}}).start()
    try:
        yield h
    finally:
        h.shutdown()


def cuda_devices(hub: Hub, user: str, name: str) -> str:
    return process_env(hub.state(user, name)["pid"])["CUDA_VISIBLE_DEVICES"]


def stop(hub: Hub, user: str, name: str) -> None:
    hub.api("DELETE", f"/users/{user}/servers/{name}")
    hub.wait_stopped(user, name)


def test_form_shows_free_gpus(gpu_hub: Hub):
    assert "1 GPU free" in gpu_hub.spawn_form("leo", "x")


def gpu_capacity(hub: Hub, user: str) -> dict:
    profiles = hub.ws("GET", "/profiles", token=hub.user_token(user)).json()["items"]
    return next(p["capacity"] for p in profiles if p["id"] == "gpu-1")


def test_the_api_says_how_many_gpus_are_free_from_the_hubs_leases(gpu_hub: Hub):
    assert gpu_capacity(gpu_hub, "ria") == {"state": "ready", "available": True, "message": "1 GPU free", "free": 1, "total": 1}
    gpu_hub.start_workspace("ria", "busy", {"image": "cuda", "profile": "gpu-1"})
    try:
        # another user learns that the GPU is taken, never by whom
        assert gpu_capacity(gpu_hub, "sam") == {"state": "busy", "available": False,
                                                "message": "no GPU free: 1 of 1 in use", "free": 0, "total": 1}
    finally:
        stop(gpu_hub, "ria", "busy")
    assert gpu_capacity(gpu_hub, "sam")["free"] == 1


@pytest.mark.browser
def test_the_dashboards_form_shows_free_gpus_then_none(gpu_hub: Hub, browser, artifacts):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        log_in(page, gpu_hub, "tia")
        page.goto(f"{gpu_hub.url}/services/workspaces/#/new")
        note = page.locator("#profile-gpu-1").locator("xpath=..").locator("[data-capacity]")
        expect(note).to_have_text("1 GPU free")
        page.screenshot(path=str(artifacts / "dashboard-capacity-gpu-free.png"), full_page=True)
        gpu_hub.start_workspace("uli", "hog", {"image": "cuda", "profile": "gpu-1"})
        try:
            page.reload()
            expect(note).to_have_text("no GPU free: 1 of 1 in use")
            expect(page.locator("#profile-gpu-1")).to_be_enabled()  # busy, not impossible: it may free up
            page.screenshot(path=str(artifacts / "dashboard-capacity-gpu-busy.png"), full_page=True)
        finally:
            stop(gpu_hub, "uli", "hog")
    finally:
        page.context.close()


def test_gpu_workspace_gets_its_gpu_and_a_cpu_workspace_sees_none(gpu_hub: Hub):
    gpu_hub.start_workspace("leo", "train", {"image": "cuda", "profile": "gpu-1"})
    gpu_hub.start_workspace("leo", "notes", {"image": "lab", "profile": "small"})
    try:
        assert cuda_devices(gpu_hub, "leo", "train") == "0"
        assert gpu_hub.state("leo", "train")["gpus"] == [0]
        assert cuda_devices(gpu_hub, "leo", "notes") == ""
        assert "no GPU free: 1 of 1 in use" in gpu_hub.spawn_form("leo", "x")
    finally:
        stop(gpu_hub, "leo", "notes")
        stop(gpu_hub, "leo", "train")


def test_a_busy_gpu_is_refused_with_a_clear_message_and_freed_on_stop(gpu_hub: Hub):
    gpu_hub.start_workspace("mia", "first", {"image": "cuda", "profile": "gpu-1"})
    r = gpu_hub.api(
        "POST", "/users/nick/servers/second", token=gpu_hub.user_token("nick"), json={"image": "cuda", "profile": "gpu-1"}
    )
    assert r.status_code == 409
    assert r.json()["message"] == (
        "1 GPU(s) requested but only 0 of 1 are free; stop a GPU workspace or pick a smaller profile"
    )
    stop(gpu_hub, "mia", "first")
    gpu_hub.start_workspace("nick", "second", {"image": "cuda", "profile": "gpu-1"})
    assert cuda_devices(gpu_hub, "nick", "second") == "0"
    stop(gpu_hub, "nick", "second")


def test_a_crashed_workspace_frees_its_gpu(gpu_hub: Hub):
    gpu_hub.start_workspace("olga", "crashy", {"image": "cuda", "profile": "gpu-1"})
    os.kill(gpu_hub.state("olga", "crashy")["pid"], signal.SIGKILL)
    wait_for(lambda: not gpu_hub.server("olga", "crashy")["ready"], 20, "the hub to notice the crash")
    gpu_hub.start_workspace("pat", "next", {"image": "cuda", "profile": "gpu-1"})
    assert cuda_devices(gpu_hub, "pat", "next") == "0"
    stop(gpu_hub, "pat", "next")


def test_a_gpu_lease_survives_a_hub_restart(gpu_hub: Hub):
    gpu_hub.start_workspace("quinn", "kept", {"image": "cuda", "profile": "gpu-1"})
    gpu_hub.stop()
    gpu_hub.start()
    assert gpu_hub.state("quinn", "kept")["gpus"] == [0]
    r = gpu_hub.api(
        "POST", "/users/rex/servers/wants", token=gpu_hub.user_token("rex"), json={"image": "cuda", "profile": "gpu-1"}
    )
    assert r.status_code == 409
    stop(gpu_hub, "quinn", "kept")
    gpu_hub.start_workspace("rex", "wants", {"image": "cuda", "profile": "gpu-1"})
    stop(gpu_hub, "rex", "wants")
