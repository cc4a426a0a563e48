"""How local workspace limits are held: the cgroup v2 decision and the files it writes (spawner.limits),
pinned without a cgroup tree; the machines the tests run on have cgroup v1 only."""

from __future__ import annotations

from pathlib import Path

import pytest

from spawner.limits import cgroup2_mount, cgroup_settings, decide, unified_path

UNIFIED = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
HYBRID = (
    "31 25 0:27 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
    "32 25 0:28 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw\n"
)
V1_ONLY = "31 25 0:27 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
ROOT = Path("/sys/fs/cgroup")


@pytest.mark.parametrize(
    "mountinfo, mount",
    [(UNIFIED, ROOT), (HYBRID, ROOT / "unified"), (V1_ONLY, None), ("", None)],
    ids=["unified", "hybrid", "v1-only", "none"],
)
def test_the_cgroup2_mount_is_read_from_mountinfo(mountinfo, mount):
    assert cgroup2_mount(mountinfo) == mount


def test_the_hubs_own_cgroup_is_the_unified_line():
    assert unified_path("4:memory:/docker/x\n0::/system.slice/workspaces.service\n") == "/system.slice/workspaces.service"
    assert unified_path("4:memory:/docker/x\n") is None


SERVICE = "/system.slice/workspaces.service"


@pytest.mark.parametrize(
    "mount, own, controllers, writable, cgroup, reason",
    [
        (ROOT, SERVICE, {"cpuset", "cpu", "io", "memory", "pids"}, True, ROOT / SERVICE[1:], ""),
        (None, None, set(), False, None, "no cgroup v2 hierarchy is mounted"),
        (ROOT, None, set(), False, None, "the hub is in no cgroup v2 group"),
        (ROOT / "unified", "/", set(), True, None, "does not offer the memory and cpu controller"),
        (ROOT, SERVICE, {"memory", "pids"}, True, None, "does not offer the cpu controller"),
        (ROOT, SERVICE, {"cpu", "memory"}, False, None, "Delegate=yes"),
    ],
    ids=["delegated", "no-cgroup2", "no-own-group", "hybrid-without-controllers", "no-cpu", "not-writable"],
)
def test_cgroup_v2_only_where_both_controllers_are_delegated_to_the_hub(mount, own, controllers, writable, cgroup, reason):
    plan = decide(mount, own, controllers, writable)
    assert plan.cgroup == cgroup
    assert reason in plan.reason
    assert ("cgroup v2" if cgroup else "RLIMIT_DATA") in plan.describe()


@pytest.mark.parametrize(
    "memory, cpu, expected",
    [
        (2 * 2**30, 1.5, {"memory.max": "2147483648", "memory.swap.max": "0", "cpu.max": "150000 100000"}),
        (None, None, {"memory.max": "max", "memory.swap.max": "max", "cpu.max": "max 100000"}),
        (2**30, 0.001, {"memory.max": "1073741824", "memory.swap.max": "0", "cpu.max": "1000 100000"}),
    ],
    ids=["limits", "none", "smallest-cpu-quota"],
)
def test_a_workspace_cgroup_gets_its_profiles_limits(memory, cpu, expected):
    assert cgroup_settings(memory, cpu) == expected
