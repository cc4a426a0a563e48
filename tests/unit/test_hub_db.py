"""The hub's database gets the index its user lists need: spawners by user."""

from __future__ import annotations

from pathlib import Path

import pytest
from jupyterhub import orm
from sqlalchemy import create_engine, inspect, text

from workspaces.hub_db import SPAWNERS_BY_USER, index_spawners_by_user


@pytest.fixture(autouse=True)
def undeclared() -> None:
    """Each test starts from JupyterHub's own table, without the index declared by an earlier one."""
    indexes = orm.Spawner.__table__.indexes
    ours = {i for i in indexes if i.name == SPAWNERS_BY_USER}
    indexes -= ours
    yield
    indexes -= {i for i in indexes if i.name == SPAWNERS_BY_USER}  # the one this test declared
    indexes |= ours


def spawner_indexes(db: Path) -> dict[str, list[str]]:
    engine = create_engine(f"sqlite:///{db}")
    try:
        return {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("spawners")}
    finally:
        engine.dispose()


def make_hub_db(db: Path) -> None:
    """A database as the hub makes it (tables and alembic stamp)."""
    orm.new_session_factory(f"sqlite:///{db}")().close()


def drop_index(db: Path) -> None:
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as connection:
        connection.execute(text(f"DROP INDEX IF EXISTS {SPAWNERS_BY_USER}"))
    engine.dispose()


def test_an_existing_hub_database_gets_the_index(tmp_path):
    db = tmp_path / "jupyterhub.sqlite"
    make_hub_db(db)
    drop_index(db)  # as a database made before this release
    index_spawners_by_user(f"sqlite:///{db}")
    assert spawner_indexes(db)[SPAWNERS_BY_USER] == ["user_id"]


def test_a_new_hub_database_is_made_with_the_index(tmp_path):
    db = tmp_path / "jupyterhub.sqlite"
    index_spawners_by_user(f"sqlite:///{db}")  # at config load, before the hub makes its tables
    make_hub_db(db)
    assert spawner_indexes(db)[SPAWNERS_BY_USER] == ["user_id"]


def test_indexing_again_changes_nothing(tmp_path):
    db = tmp_path / "jupyterhub.sqlite"
    make_hub_db(db)
    index_spawners_by_user(f"sqlite:///{db}")
    index_spawners_by_user(f"sqlite:///{db}")
    assert list(spawner_indexes(db)) == [SPAWNERS_BY_USER]


def test_a_database_that_cannot_be_reached_leaves_the_hub_to_say_so(tmp_path, caplog):
    index_spawners_by_user(f"sqlite:///{tmp_path}/no/such/folder/jupyterhub.sqlite")
    assert "Could not index the hub database's spawners by user" in caplog.text
