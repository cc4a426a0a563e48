"""A hub API endpoint listing ready servers with only what the culler reads.

``GET /hub/api/users?state=ready`` builds, for every user with a ready server,
the whole user model: JupyterHub loads each such user with all their servers
(stopped ones too), roles and groups, about 0.6 ms a user, so a pass over
2,000 running workspaces spends over a second in the hub (benchmarks/hub_scale.py).
This endpoint, added to the hub with ``JupyterHub.extra_handlers`` (no change
to JupyterHub's code), reads the running spawners' ids in one query and takes
each one's state from the hub's memory, where a running server's user already is.

Each item has the shape of a ``/users`` item with one server, so the culler
decides on it unchanged. Pages go by spawner id (``after``), which a start or
a stop between pages cannot shift, and hold at most the hub's
``api_page_max_limit`` servers, as ``/users`` pages do.

Who may call it: whoever holds, unfiltered, the scopes that let them read the
same through ``/users``: ``list:users``, ``read:users:groups`` and
``read:servers``. A scope limited to some users or groups gets a 403 here
rather than a filtered answer: the culler, the only caller, holds them whole.
"""

from __future__ import annotations

from typing import Any

from jupyterhub import orm
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.scopes import Scope, needs_scope
from jupyterhub.utils import isoformat
from tornado import web

PATH = r"/api/workspaces-culler/ready-servers"
# every one unfiltered: what the same answer through /users needs
NEEDED = ("list:users", "read:users:groups", "read:servers")


class ReadyServersHandler(APIHandler):
    @needs_scope("list:users")
    def get(self) -> None:
        limited = [scope for scope in NEEDED if self.parsed_scopes.get(scope) != Scope.ALL]
        if limited:
            raise web.HTTPError(403, f"needs the scopes {', '.join(NEEDED)} for every user; not held for all: {', '.join(limited)}")
        try:
            after = int(self.get_argument("after", "0"))
        except ValueError:
            raise web.HTTPError(400, "after must be a server's id (an integer)") from None
        _, limit = self.get_api_pagination()
        rows = (
            self.db.query(orm.Spawner.id, orm.Spawner.user_id, orm.Spawner.name)
            .filter(orm.Spawner.server_id.isnot(None), orm.Spawner.id > after)
            .order_by(orm.Spawner.id)
            .limit(limit)
            .all()
        )
        items = [item for _, user_id, name in rows if (item := self._item(user_id, name)) is not None]
        following = rows[-1][0] if len(rows) == limit else None
        self.write({"items": items, "next_after": following})

    def _item(self, user_id: int, name: str) -> dict[str, Any] | None:
        user = self.users[user_id]
        spawner = user.spawners.get(name)
        if spawner is None or not spawner.ready:
            return None  # starting or stopping: /users?state=ready leaves it out too
        server = {
            "name": name,
            "ready": True,
            "pending": spawner.pending,
            "started": isoformat(spawner.orm_spawner.started),
            "last_activity": isoformat(spawner.orm_spawner.last_activity),
            "user_options": spawner.user_options,
        }
        return {"name": user.name, "groups": [g.name for g in user.groups], "servers": {name: server}}
