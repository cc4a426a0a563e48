"""Sharing a workspace: ``/workspaces/{owner}/{name}/shares`` and ``/shared``.

JupyterHub's sharing (``/hub/api/shares``, ``/hub/api/share-codes``), called
with the caller's own token like every other route: the hub decides who may
manage a server's shares (its owner and admins, by the ``shares`` scope); a
user it is shared with holds only access to it, so cannot re-share it, nor
even see it here (404, as any workspace not theirs). Share codes are shown
by id and expiry; the code itself only in the answer that creates it.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

from ..errors import Issue
from ..sharing import DEFAULT_CODE_EXPIRY, MAX_CODE_EXPIRY, MIN_CODE_EXPIRY, sharing_refusal
from .errors import ApiError, invalid, not_found
from .handlers import APIHandler, expect_ok
from .hub import HubAnswer, path

SHARE_KEYS = ("user", "group", "code")
UNSHARE_KEYS = ("user", "group", "code", "all")


def share_request(body: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any]:
    """The one thing a share or unshare body names: (key, value), or a 400 saying what is allowed."""
    named = [k for k in keys if k in body]
    if len(named) != 1:
        raise invalid(f"name exactly one of: {', '.join(keys)}", *(Issue(k, "give only one of these") for k in named[1:]))
    key = named[0]
    value = body[key]
    if key in ("user", "group"):
        if not isinstance(value, str) or not value.strip():
            raise invalid(f"bad {key}", Issue(key, f"must be the {key}'s name"))
        return key, value.strip()
    if key == "all":
        if value is not True:
            raise invalid("bad all", Issue("all", "must be true (revokes every share and code of the workspace)"))
        return key, True
    if keys == UNSHARE_KEYS:
        if not isinstance(value, str) or not value.startswith("sc_"):
            raise invalid("bad code", Issue("code", "must be the id of one of the workspace's codes (sc_...)"))
        return key, value
    value = {} if value is None else value
    if not isinstance(value, dict) or set(value) - {"expires_in"}:
        raise invalid("bad code", Issue("code", "must be an object; allowed keys: expires_in"))
    expires = value.get("expires_in", DEFAULT_CODE_EXPIRY)
    if isinstance(expires, bool) or not isinstance(expires, int) or not MIN_CODE_EXPIRY <= expires <= MAX_CODE_EXPIRY:
        issue = Issue("code.expires_in", f"must be whole seconds from {MIN_CODE_EXPIRY} (a minute) to {MAX_CODE_EXPIRY} (a year)")
        raise invalid(str(issue), issue)
    return key, {"expires_in": expires}


def share_json(share: dict[str, Any]) -> dict[str, Any]:
    kind = share.get("kind", "user")
    return {"kind": kind, "name": (share.get(kind) or {}).get("name"), "created": share.get("created_at")}


def code_json(code: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": code["id"],
        "created": code.get("created_at"),
        "expires": code.get("expires_at"),
        "uses": code.get("exchange_count", 0),
        "last_used": code.get("last_exchanged_at"),
    }


class SharesHandler(APIHandler):
    """Who has access to a workspace besides its owner; granted and revoked by its owner (and admins)."""

    async def get(self, owner: str, name: str) -> None:
        await self.server(owner, name)
        self.send(await self.listing(owner, name))

    async def post(self, owner: str, name: str) -> None:
        await self.shareable(owner, name)
        key, value = share_request(self.json_body(SHARE_KEYS), SHARE_KEYS)
        if key == "code":
            answer = await self.hub_call("POST", path("share-codes", owner, name), json_body=value)
            self.refused_share(answer, owner, name)
            code = answer.body
            self.send({**code_json(code), "code": code["code"], "accept_url": code["accept_url"],
                       "full_accept_url": code.get("full_accept_url")}, 201)
            return
        answer = await self.hub_call("POST", path("shares", owner, name), json_body={key: value})
        if answer.status == 400 and answer.message.startswith(f"No such {key}"):
            issue = Issue(key, f"no {key} named {value!r} on this hub")
            raise invalid(str(issue), issue)
        self.refused_share(answer, owner, name)
        self.send(share_json(answer.body), 201)

    async def delete(self, owner: str, name: str) -> None:
        await self.shareable(owner, name)
        key, value = share_request(self.json_body(UNSHARE_KEYS), UNSHARE_KEYS)
        if key == "all":
            for route in (path("shares", owner, name), path("share-codes", owner, name)):
                self.refused_share(await self.hub_call("DELETE", route), owner, name)
        elif key == "code":
            answer = await self.hub_call("DELETE", path("share-codes", owner, name), params={"id": value})
            if answer.status == 404:
                raise not_found(f"share code {value!r} of {owner}/{name}")
            self.refused_share(answer, owner, name)
        else:
            current = await self.listing(owner, name)
            if not any(s["kind"] == key and s["name"] == value for s in current["shares"]):
                raise not_found(f"a share of {owner}/{name} with {key} {value!r}")
            self.refused_share(await self.hub_call("PATCH", path("shares", owner, name), json_body={key: value}), owner, name)
        self.set_status(204)
        self.finish()

    async def shareable(self, owner: str, name: str) -> None:
        """The workspace exists for the caller, and this hub shares workspaces.

        Where sharing is off, the hub config removed every share and code at start
        (hub_db.remove_shares_where_sharing_is_off): there is nothing to revoke either, and
        the reason says more than the hub's 403 (users lack the ``shares`` scope there)."""
        await self.server(owner, name)
        refusal = sharing_refusal(self.settings_, os.geteuid())
        if refusal:
            raise ApiError(409, "sharing_off", refusal)

    async def listing(self, owner: str, name: str) -> dict[str, Any]:
        refused = partial(self.refused_share, owner=owner, name=name)
        shares = [s async for s in self.hub_items(path("shares", owner, name), check=refused)]
        codes = [c async for c in self.hub_items(path("share-codes", owner, name), check=refused)]
        return {"shares": [share_json(s) for s in shares], "codes": [code_json(c) for c in codes]}

    @staticmethod
    def refused_share(answer: HubAnswer, owner: str, name: str) -> None:
        if answer.status == 403:
            raise ApiError(403, "forbidden", f"only the owner of {owner}/{name} (or an admin) manages its shares")
        expect_ok(answer)


class SharedHandler(APIHandler):
    """Workspaces other users shared with the caller, directly or through one of the caller's groups."""

    async def get(self) -> None:
        if self.caller.get("kind") != "user":
            self.send({"items": []})  # a service has nothing shared with it
            return
        items: dict[tuple[str, str], dict[str, Any]] = {}
        async for share in self.hub_items(path("users", self.caller["name"], "shared")):
            server = share["server"]
            key = (server["user"]["name"], server["name"])
            kind = share.get("kind", "user")
            entry = items.setdefault(key, {
                "owner": key[0], "name": key[1], "url": server.get("url", ""), "ready": bool(server.get("ready")), "via": [],
            })
            entry["via"].append({"kind": kind, "name": (share.get(kind) or {}).get("name")})
        self.send({"items": sorted(items.values(), key=lambda i: (i["owner"], i["name"]))})
