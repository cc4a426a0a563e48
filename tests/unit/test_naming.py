"""Workspace names: collision-free, [a-z0-9-] only, bounded, stable."""

import itertools
import re

import pytest

from workspaces.naming import workspace_name

TRICKY = ["", "a", "A", "a-", "-a", "a--b", "a-2d", "..", "../etc", "a/b", "Ä", "user@example.com", "x" * 300, "a b", "-2d"]


def test_names_use_only_safe_characters():
    for user, server in itertools.product(TRICKY[1:], TRICKY):
        assert re.fullmatch(r"[a-z0-9-]+", workspace_name(user, server))


def test_no_two_pairs_share_a_name():
    pairs = list(itertools.product(TRICKY[1:], TRICKY))
    names = {workspace_name(u, s) for u, s in pairs}
    assert len(names) == len(pairs)


def test_no_two_pairs_share_a_truncated_name():
    pairs = list(itertools.product(TRICKY[1:], TRICKY))
    names = {workspace_name(u, s, max_length=63) for u, s in pairs}
    assert len(names) == len(pairs)


def test_known_collision_shapes_stay_apart():
    # 'a-b' + 'c' vs 'a' + 'b-c', and the default server vs a server called ''
    assert workspace_name("a-b", "c") != workspace_name("a", "b-c")
    assert workspace_name("a", "") != workspace_name("a", "-")
    assert workspace_name("a--b") != workspace_name("a", "b")


def test_traversal_is_impossible():
    assert "/" not in workspace_name("../..", "../../etc")
    assert workspace_name("..", "..") not in ("..", ".")


def test_names_are_stable():
    assert workspace_name("alice", "My Project") == workspace_name("alice", "My Project")
    assert workspace_name("alice", "ws1") == "alice--ws1"


@pytest.mark.parametrize("limit", [20, 63, 200])
def test_long_names_are_cut_with_a_hash(limit):
    name = workspace_name("u" * 100, "s" * 300, max_length=limit)
    assert len(name) <= limit
    assert re.search(r"-h[0-9a-f]{10}$", name)
