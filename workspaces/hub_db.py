"""What the hub config does to JupyterHub's database before the hub starts.

Shares where sharing is off: :func:`remove_shares_where_sharing_is_off` (below).

An index JupyterHub's database lacks, for listing users at scale.

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
from typing import Any

from jupyterhub import orm
from sqlalchemy import Index, create_engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from .sharing import sharing_refusal

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


def remove_shares_where_sharing_is_off(db_url: str, settings: Any, euid: int) -> int:
    """Where this hub refuses sharing (:func:`workspaces.sharing.sharing_refusal`: ``settings``,
    the hub run as ``euid``), remove every share and share code from its database; how many
    were removed (0 where sharing is allowed: they are left as they are).

    JupyterHub grants a share's scopes (and exchanges a code for a share) from
    its own tables, whatever the owner's role holds now, so a share made while
    users were isolated (``local.isolation: auto`` under root) would still open
    the workspace once the same data dir runs without root, as the hub's own
    account; nor could its owner revoke it (the hub refuses them ``shares``).
    Errors propagate: a hub that cannot remove them must not start.
    """
    if sharing_refusal(settings, euid) is None:
        return 0
    tables = (orm.Share.__table__, orm.ShareCode.__table__)
    engine = create_engine(db_url)
    try:
        present = set(inspect(engine).get_table_names())
        counts = {}
        with engine.begin() as connection:  # both or neither
            for table in tables:
                if table.name in present:  # a database the hub has yet to make has none
                    counts[table.name] = connection.execute(table.delete()).rowcount
    finally:
        engine.dispose()
    shares, codes = counts.get("shares", 0), counts.get("share_codes", 0)
    if shares or codes:
        log.warning("Sharing is off on this hub: removed %d share(s) and %d share code(s) made while it was on",
                    shares, codes)
    return shares + codes
