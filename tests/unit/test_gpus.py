"""GPU detection through nvidia-smi, and exclusive allocation by index."""

import os
import stat

import pytest

from spawner.gpus import GpuAllocator, GpuUnavailable, detect_gpus

from ..support.fake_nvidia_smi import write_fake_nvidia_smi


@pytest.mark.parametrize("count", [0, 1, 4])
def test_detects_what_nvidia_smi_reports(tmp_path, count):
    fake = write_fake_nvidia_smi(tmp_path, count)
    gpus = detect_gpus(str(fake))
    assert [g.index for g in gpus] == list(range(count))
    if count:
        assert gpus[0].name == "NVIDIA H200" and gpus[0].memory_mib == 143771
        assert gpus[0].uuid.startswith("GPU-")


def test_no_nvidia_smi_means_no_gpus(tmp_path):
    assert detect_gpus(str(tmp_path / "missing-nvidia-smi")) == []


def test_a_failing_nvidia_smi_means_no_gpus(tmp_path):
    broken = tmp_path / "nvidia-smi"
    broken.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    assert detect_gpus(str(broken)) == []


def test_found_on_path(tmp_path, monkeypatch):
    write_fake_nvidia_smi(tmp_path, 2)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert len(detect_gpus()) == 2


def test_allocation_is_exclusive():
    gpus = GpuAllocator([0, 1, 2, 3])
    assert gpus.allocate("a/1", 2) == [0, 1]
    assert gpus.allocate("b/1", 2) == [2, 3]
    assert gpus.free() == []


def test_exhaustion_is_refused_with_counts():
    gpus = GpuAllocator([0])
    gpus.allocate("a/1", 1)
    with pytest.raises(GpuUnavailable) as info:
        gpus.allocate("b/1", 1)
    assert str(info.value).startswith("1 GPU(s) requested but only 0 of 1 are free")
    assert not info.value.never_possible


def test_asking_for_more_than_the_machine_has():
    with pytest.raises(GpuUnavailable) as info:
        GpuAllocator([]).allocate("a/1", 1)
    assert str(info.value) == "1 GPU(s) requested but this machine has 0"
    assert info.value.never_possible


def test_release_frees_the_gpus():
    gpus = GpuAllocator([0, 1])
    gpus.allocate("a/1", 2)
    assert gpus.release("a/1") == [0, 1]
    assert gpus.allocate("b/1", 1) == [0]


def test_zero_gpus_is_always_possible():
    assert GpuAllocator([]).allocate("a/1", 0) == []


def test_a_new_start_replaces_the_owner_lease():
    gpus = GpuAllocator([0, 1])
    gpus.allocate("a/1", 1)
    assert gpus.allocate("a/1", 2) == [0, 1]


def test_claim_restores_a_lease_after_restart_and_reports_conflicts():
    gpus = GpuAllocator([0, 1])
    assert gpus.claim("a/1", [1]) == []
    assert gpus.held_by("a/1") == [1]
    assert gpus.claim("b/1", [1, 7]) == [1, 7]
    assert gpus.allocate("c/1", 1) == [0]
