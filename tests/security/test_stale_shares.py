"""Shares that outlive sharing, attacked: a share (or share code) made while users were isolated
must not open the workspace once the same data dir runs where sharing is off.

JupyterHub grants a share's scopes from its database (``jupyterhub.scopes.expand_share_scopes``),
whatever the owner's role holds now, and exchanges a code the same way. ``local.isolation: auto``
is isolated under root and not without it: the same data dir, started without root, would hand
Bob (a share) or anyone with the link (a code) Alice's workspace, now run as the hub's own
account, and Alice could not revoke either (the hub refuses her the ``shares`` scope). The hub
config removes them at start (``remove_shares_where_sharing_is_off``); here on a real hub
database made by JupyterHub's ORM, without a hub (cheap).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyterhub import orm
from jupyterhub.scopes import get_scopes_for

from workspaces.config import WorkspacesConfig
from workspaces.hub_db import remove_shares_where_sharing_is_off

AUTO = WorkspacesConfig.model_validate({"local": {"isolation": "auto"}})
ROOT, NOT_ROOT = 0, 1000  # the hub's account: the same settings, isolated or not
ACCESS = "access:servers!server=alice/one"


@pytest.fixture
def hub_db(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A hub database where Alice shared her workspace ``one`` with Bob and made a share code;
    the db URL and the code."""
    url = f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}"
    db = orm.new_session_factory(url)()
    alice, bob = orm.User(name="alice"), orm.User(name="bob")
    db.add_all([alice, bob])
    db.commit()
    spawner = orm.Spawner(user=alice, name="one")
    db.add(spawner)
    db.commit()
    orm.Share.grant(db, spawner, bob)
    _, code = orm.ShareCode.new(db, spawner, scopes=[ACCESS])
    db.close()
    yield url, code


def granted(url: str, code: str) -> tuple[bool, bool]:
    """What the hub would grant from its database now: (Bob's access to alice/one, the code's)."""
    db = orm.new_session_factory(url)()
    try:
        bob = db.query(orm.User).filter_by(name="bob").one()
        return ACCESS in get_scopes_for(bob), orm.ShareCode.find(db, code) is not None
    finally:
        db.close()


def test_where_sharing_is_off_the_hub_start_removes_every_share_and_code(hub_db, caplog):
    url, code = hub_db
    assert granted(url, code) == (True, True)  # made while the hub ran as root (isolated)
    caplog.set_level("INFO", logger="workspaces")
    removed = remove_shares_where_sharing_is_off(url, AUTO, NOT_ROOT)  # the same data dir, without root
    assert granted(url, code) == (False, False)
    assert removed == 2
    assert "removed 1 share(s) and 1 share code(s)" in caplog.text


def test_where_sharing_is_on_the_hub_start_keeps_them(hub_db):
    url, code = hub_db
    assert remove_shares_where_sharing_is_off(url, AUTO, ROOT) == 0
    assert granted(url, code) == (True, True)


def test_a_database_the_hub_has_yet_to_make_has_none_to_remove(tmp_path):
    assert remove_shares_where_sharing_is_off(f"sqlite:///{tmp_path / 'new.sqlite'}", AUTO, NOT_ROOT) == 0
