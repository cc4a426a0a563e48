"""An index JupyterHub's database lacks, for listing users at scale.

JupyterHub's ORM indexes no column of ``spawners`` but its key, yet every list
of users (``GET /hub/api/users``, which the workspaces API and the culler page
through) loads the listed users' spawners by ``user_id``, and the database then
reads the whole table once per listed user. At 10,000 users with two workspaces
each, one page of 200 users with a ready server took the hub 0.5-1.1 s (SQLite,
``benchmarks/hub_scale.py``), during which it answered nobody; with this index,
0.03-0.1 s.
"""

from __future__ import annotations

import logging

from jupyterhub import orm
from sqlalchemy import Index, create_engine, inspect
from sqlalchemy.exc import SQLAlchemyError

SPAWNERS_BY_USER = "ix_spawners_user_id"

log = logging.getLogger("workspaces")


def index_spawners_by_user(db_url: str) -> None:
    """Index ``spawners.user_id``: a database the hub has yet to make gets the index
    with its tables (it is declared on JupyterHub's table), an existing one now."""
    table = orm.Spawner.__table__
    index = next((i for i in table.indexes if i.name == SPAWNERS_BY_USER), None)
    if index is None:
        index = Index(SPAWNERS_BY_USER, table.c.user_id)  # declared on the table: create_all makes it
    try:
        engine = create_engine(db_url)
        try:
            if inspect(engine).has_table(table.name):
                index.create(engine, checkfirst=True)
        finally:
            engine.dispose()
    except SQLAlchemyError as e:
        # the hub reports a database it cannot reach itself; lists are only slower without the index
        log.warning("Could not index the hub database's spawners by user (%s); user lists will be slower", e)
