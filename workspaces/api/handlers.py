"""The API's request handlers: JSON in, JSON out, one error shape, never a 500 for any input."""

from __future__ import annotations

import base64
import binascii
import json
import os
from datetime import datetime, timezone
from collections.abc import AsyncIterator, Callable
from typing import Any

from jupyterhub.slugs import is_valid_safe_slug
from jupyterhub.services.auth import HubOAuthenticated, check_scopes
from tornado import web

from ..budgets import user_budget
from ..catalog import ImageEntry
from ..culling import WorkspaceFacts, iso, kept_alive_until, stop_time, verdict
from ..errors import Issue
from ..sharing import sharing_refusal
from ..spec import custom_images_offer
from .errors import ApiError, invalid, not_found
from .hub import PAGINATION, HubAnswer, HubRefused, path
from .model import STATES, clean_spec, image_json, profile_json, workspace
from .state import now

HUB_PAGE = 200  # items per page of a hub list read whole (hub_items)

CATALOG_SCOPE = "custom:workspaces:catalog"
MAX_LIMIT = 500
MAX_OFFSET = 2**31 - 1  # a cursor never points further; a forged one is a 400, not the hub's 500


class APIHandler(HubOAuthenticated, web.RequestHandler):
    """Authenticates the caller with the hub and answers errors in the API's shape.

    Programs send a token (``Authorization: token ...``); browsers log in
    through the hub's OAuth, and their cookie then carries the token, with
    JupyterHub's xsrf check on requests that change something.
    """

    def initialize(self, service: Any) -> None:
        self.service = service
        self.hub = service.hub
        self.hub_auth = service.hub_auth
        self.caller: dict[str, Any] = {}
        self.token = ""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        auth = self.hub_auth
        model = await auth.get_user(self, sync=False)
        if not model:
            if self.request.method == "GET" and "text/html" in self.request.headers.get("Accept", ""):
                self.redirect(self.get_login_url())  # a browser: log in through the hub
                return
            if auth.get_token(self, in_cookie=False):
                raise ApiError(401, "unauthorized", "the token is not valid (expired or revoked?)")
            if self.get_secure_cookie(auth.cookie_name):
                raise ApiError(401, "unauthorized", "a request a script makes with the browser's cookie (any method) needs the X-XSRFToken header (the _xsrf cookie's value)")
            raise ApiError(401, "unauthorized", "authenticate with a JupyterHub token: Authorization: token <token>")
        if not auth.check_scopes(auth.access_scopes, model):
            raise ApiError(403, "forbidden", f"this token may not use the workspaces service (needs {', '.join(sorted(auth.access_scopes))})")
        self.caller = model
        self.token = auth.get_token(self) or ""
        if not getattr(self, "_token_authenticated", False):
            self.xsrf_token  # noqa: B018 (sets the _xsrf cookie a browser sends back as X-XSRFToken)

    # -- answers -----------------------------------------------------------------

    def send(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            error = exc
        elif isinstance(exc, web.HTTPError) and status_code < 500:
            code = {404: "not_found", 405: "invalid_request"}.get(status_code, "invalid_request")
            error = ApiError(status_code, code, exc.log_message or self._reason)
        elif isinstance(exc, web.HTTPError):  # HubAuth could not ask the hub
            error = ApiError(502, "hub_error", exc.log_message or "the hub did not answer")
        else:
            self.service.log.error("Unexpected error in %s %s", self.request.method, self.request.path, exc_info=kwargs.get("exc_info"))
            error = ApiError(500, "internal_error", "internal error; the service log has the details")
        self.set_status(error.status)
        for key, value in error.headers.items():
            self.set_header(key, value)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(error.body()))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if not isinstance(value, ApiError):
            super().log_exception(typ, value, tb)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, ApiError):
            if not self._finished:
                self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)

    # -- request parts -------------------------------------------------------------

    def json_body(self, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"null")
        except (ValueError, RecursionError) as e:  # also too deep, or a number too long to read
            raise invalid(f"the body is not JSON that can be read: {type(e).__name__}") from None
        if not isinstance(body, dict):
            raise invalid("the body must be a JSON object")
        issues = [Issue(k, f"unknown key; allowed keys: {', '.join(allowed)}") for k in body if k not in allowed]
        issues += [Issue(k, "is required") for k in required if k not in body]
        if issues:
            raise invalid("; ".join(str(i) for i in issues), *issues)
        return body

    def query(self, name: str) -> str | None:
        values = self.request.query_arguments.get(name)
        return values[-1].decode("utf-8", "replace") if values else None

    @property
    def catalog(self) -> Any:
        return self.service.catalog_store.current()

    @property
    def settings_(self) -> Any:
        return self.service.catalog_store.config.settings

    @property
    def catalog_admin(self) -> bool:
        return CATALOG_SCOPE in self.caller.get("scopes", [])

    @property
    def may_list_users(self) -> bool:
        return any(s == "list:users" or s.startswith("list:users!") for s in self.caller.get("scopes", []))

    def caller_groups(self) -> list[str]:
        return list(self.caller.get("groups") or [])

    # -- the hub -------------------------------------------------------------------

    async def hub_call(self, method: str, route: str, **kwargs: Any) -> HubAnswer:
        return await self.hub.call(self.token, method, route, **kwargs)

    async def hub_items(
        self, route: str, params: dict[str, str] | None = None, check: Callable[[HubAnswer], None] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paginated hub list, page by page; ``check`` (default expect_ok) turns a
        refusal into the API's error."""
        offset = 0
        while True:
            page = {**(params or {}), "offset": str(offset), "limit": str(HUB_PAGE)}
            answer = await self.hub_call("GET", route, params=page, accept=PAGINATION)
            (check or expect_ok)(answer)
            body = answer.body or {}
            for item in body.get("items", []):
                yield item
            following = ((body.get("_pagination") or {}).get("next") or {}).get("offset")
            if not isinstance(following, int) or following <= offset:
                return
            offset = following

    async def owner_model(self, owner: str) -> dict[str, Any]:
        answer = await self.hub_call("GET", path("users", owner), params={"include_stopped_servers": "1"})
        if answer.status in (403, 404):
            raise not_found(f"user {owner!r}")  # someone you may not see does not exist for you
        expect_ok(answer)
        return answer.body

    async def server(self, owner: str, name: str) -> dict[str, Any]:
        """The hub's record of a workspace; 404 when it is missing or not the caller's to see."""
        if not name:
            raise not_found(f"workspace {owner}/")
        answer = await self.hub_call("GET", path("users", owner, "servers", name))
        if answer.status in (403, 404):
            raise not_found(f"workspace {owner}/{name}")
        expect_ok(answer)
        return answer.body

    async def workspace(self, owner: str, name: str, user: dict[str, Any] | None = None) -> dict[str, Any]:
        """The workspace as the API shows it; ``user``: the owner's hub model, when the handler has it."""
        server = await self.server(owner, name)
        return self.shown(user or await self.owner_groups(owner), server, self.service.state.get(owner, name))

    def shown(self, user: dict[str, Any], server: dict[str, Any], remembered: dict[str, Any]) -> dict[str, Any]:
        """A workspace whose hub models the handler has, as the API shows it."""
        return workspace(user, server, remembered, self.catalog, self.settings_.culling, backend=self.settings_.backend)

    async def owner_groups(self, owner: str) -> dict[str, Any]:
        """The owner's name and groups (culling rules may match groups): the caller's own, or asked of the hub."""
        if self.caller.get("kind") == "user" and self.caller.get("name") == owner:
            return {"name": owner, "groups": self.caller_groups()}
        answer = await self.hub_call("GET", path("users", owner))
        groups = answer.body.get("groups") if answer.status == 200 and isinstance(answer.body, dict) else None
        return {"name": owner, "groups": groups or []}  # who may read servers but not users: rules by group do not apply


def expect_ok(answer: HubAnswer) -> None:
    """Turn a hub refusal into the API's error shape."""
    if answer.status < 400:
        return
    if answer.status == 429:
        retry = answer.headers.get("Retry-After", "10")
        raise ApiError(429, "too_many_starts", f"the hub is starting too many servers; retry in {retry}s", headers={"Retry-After": retry})
    if answer.status in (401, 403):
        raise ApiError(403, "forbidden", answer.message)
    if answer.status == 404:
        raise ApiError(404, "not_found", answer.message)
    if answer.status == 409:
        raise ApiError(409, "conflict", answer.message)
    if answer.status < 500:
        raise ApiError(400, "invalid_request", answer.message)
    raise ApiError(502, "hub_error", answer.message)


class WorkspacesHandler(APIHandler):
    async def get(self) -> None:
        filters = {k: self.query(k) for k in ("owner", "namespace", "state", "image", "profile")}
        if filters["state"] is not None and filters["state"] not in STATES:
            raise invalid("unknown state", Issue("state", f"must be one of: {', '.join(STATES)}"))
        limit = self._limit()
        offset, last = self._cursor()
        items, next_cursor = await self._page(filters, limit, offset, last)
        self.send({"items": items, "next": next_cursor})

    def _limit(self) -> int:
        raw = self.query("limit")
        if raw is None:
            return 100
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
            raise invalid("bad limit", Issue("limit", f"must be a whole number from 1 to {MAX_LIMIT}"))
        return int(raw)

    def _cursor(self) -> tuple[int, tuple[str, str] | None]:
        raw = self.query("after")
        if not raw:
            return 0, None
        try:
            offset, owner, name = json.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
            if not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET or not isinstance(owner, str) or not isinstance(name, str):
                raise ValueError
        except (ValueError, TypeError, RecursionError, binascii.Error):
            raise invalid("bad cursor", Issue("after", "must be the next value of a previous page")) from None
        return offset, (owner, name) if owner else None

    @staticmethod
    def _encode(offset: int, owner: str, name: str) -> str:
        return base64.urlsafe_b64encode(json.dumps([offset, owner, name]).encode()).decode().rstrip("=")

    async def _page(
        self, filters: dict[str, str | None], limit: int, offset: int, last: tuple[str, str] | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Workspaces in the hub's user order, then by name.

        The cursor is the offset of the next user to look at, and the last
        workspace given if that user has more. Users are asked of the hub in
        pages sized to fill this page in one call, from how many workspaces
        users have had so far.
        """
        items: list[dict[str, Any]] = []
        catalog = self.catalog  # one snapshot per request
        policy = self.settings_.culling
        while True:
            users, next_offset = await self._users(filters["owner"], offset, self.service.users_for(limit - len(items)))
            self.service.saw(users)
            for i, user in enumerate(users):
                names = sorted(n for n in user.get("servers") or {} if n)
                for j, name in enumerate(names):
                    if i == 0 and last is not None and user["name"] == last[0] and name <= last[1]:
                        continue
                    ws = workspace(user, user["servers"][name], self.service.state.get(user["name"], name), catalog, policy,
                                   backend=self.settings_.backend)
                    if not matches(ws, filters):
                        continue
                    items.append(ws)
                    if len(items) == limit:
                        if j < len(names) - 1:
                            return items, self._encode(offset + i, user["name"], name)
                        if i < len(users) - 1 or next_offset is not None:
                            return items, self._encode(offset + i + 1, "", "")
                        return items, None
                last = None
            if next_offset is None:
                return items, None
            offset = next_offset

    async def _users(self, owner: str | None, offset: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """A page of users with their servers, and the offset of the next page (None: no more).

        All users, not the hub's state filter: that one applies after its
        offset and limit, so pages would not line up.
        """
        if owner is None and not self.may_list_users:
            if self.caller.get("kind") != "user":
                return [], None
            owner = self.caller["name"]  # who may not list users sees their own workspaces
        if owner is not None:
            if offset > 0:
                return [], None
            try:
                return [await self.owner_model(owner)], None
            except ApiError as e:
                if e.status == 404:
                    return [], None
                raise
        params = {"include_stopped_servers": "1", "offset": str(offset), "limit": str(limit)}
        answer = await self.hub_call("GET", "/users", params=params, accept=PAGINATION)
        expect_ok(answer)
        body = answer.body or {}
        following = (body.get("_pagination") or {}).get("next") or {}
        next_offset = following.get("offset")
        return body.get("items", []), next_offset if isinstance(next_offset, int) and next_offset > offset else None

    async def post(self) -> None:
        body = self.json_body(("owner", "name", "spec"), required=("name",))
        name, owner = body["name"], body.get("owner")
        if not isinstance(name, str) or not is_valid_safe_slug(name):
            issue = Issue("name", "must be 1-30 lowercase letters, digits and single '-', starting with a letter and ending with a letter or digit")
            raise invalid(str(issue), issue)
        if owner is None:
            if self.caller.get("kind") != "user":
                raise invalid("owner is required", Issue("owner", "is required when a service creates a workspace"))
            owner = self.caller["name"]
        if not isinstance(owner, str) or not owner:
            raise invalid("bad owner", Issue("owner", "must be a user name"))
        user = await self.owner_model(owner)
        options = self.service.resolve(body.get("spec", {}), user.get("groups") or [], "spec")
        # create without starting (JupyterHub 6 PUT): exactly one request wins the name
        answer = await self.hub_call("PUT", path("users", owner, "servers", name), json_body={"user_options": options})
        created = answer.status == 201
        if created:
            self.service.state.forget(owner, name)  # anything left from an earlier workspace of that name
            self.service.state.update(owner, name, created=now())
            server = answer.body
        elif answer.status == 409:
            server = await self.server(owner, name)
            self._same_or_conflict(owner, name, server, options)
        else:
            expect_ok(answer)
            server = answer.body or {}
        if not (server.get("ready") or server.get("pending")):
            # a new workspace, or the same create again after a refused start (429): start it
            try:
                await self.service.start(self, owner, name, None)
            except ApiError as e:
                # refused: as if never asked (only what this request made). Not after a 429: that
                # says "again later", and the same create again starts what this one recorded.
                if created and e.status < 500 and e.status != 429:
                    await self._unmake(owner, name)
                raise
        self.send(await self.workspace(owner, name, user), 201 if created else 200)

    async def _unmake(self, owner: str, name: str) -> None:
        answer = await self.hub_call("DELETE", path("users", owner, "servers", name), json_body={"remove": True})
        if answer.status >= 400 and answer.status != 404:
            self.service.log.warning("Could not remove %s/%s after its refused start: %s", owner, name, answer.message)
        self.service.state.forget(owner, name)

    @staticmethod
    def _same_or_conflict(owner: str, name: str, existing: dict[str, Any], options: dict[str, Any]) -> None:
        stored = clean_spec(existing.get("user_options"))
        if "namespace" not in options:
            stored.pop("namespace", None)  # the spawner records where it put the workspace
        if stored != options:
            raise ApiError(409, "name_in_use", f"{owner} already has a workspace named {name!r} with another spec")


def matches(ws: dict[str, Any], filters: dict[str, str | None]) -> bool:
    spec = ws["spec"]
    return (
        (filters["state"] is None or ws["state"] == filters["state"])
        and (filters["namespace"] is None or ws["namespace"] == filters["namespace"])
        and (filters["image"] is None or spec.get("image") == filters["image"])
        and (filters["profile"] is None or spec.get("profile") == filters["profile"])
    )


class WorkspaceHandler(APIHandler):
    async def get(self, owner: str, name: str) -> None:
        self.send(await self.workspace(owner, name))

    async def patch(self, owner: str, name: str) -> None:
        body = self.json_body(("spec", "revision"), required=("spec", "revision"))
        server = await self.server(owner, name)
        user = await self.owner_model(owner)
        current = self.shown(user, server, self.service.state.get(owner, name))
        if body["revision"] != current["revision"]:
            raise ApiError(409, "stale_revision", f"the workspace changed since revision {body['revision']!r}; it is now {current['revision']!r}")
        options = self.service.resolve(body["spec"], user.get("groups") or [], "spec")
        running = clean_spec(server.get("user_options"))
        if running.get("namespace") and options.get("namespace") not in (None, running["namespace"]):
            issue = Issue("spec.namespace", f"a workspace cannot move from {running['namespace']!r}; create a new one")
            raise ApiError(400, "invalid_spec", str(issue), [issue])
        if running.get("namespace") and "namespace" not in options:
            options["namespace"] = running["namespace"]
        if self.settings_.backend == "kubernetes":
            await self.service.keep_storage(owner, name, running, options)
        route = path("users", owner, "servers", name)
        if server.get("ready") or server.get("pending"):
            # The hub changes no spec of an active server, so the update waits here
            # for the next start; first the hub must say the caller may start it:
            # an empty PATCH passes its scope check and is then refused for being empty.
            probe = await self.hub_call("PATCH", route, json_body={})
            if probe.status != 400:
                expect_ok(probe)
                raise ApiError(502, "hub_error", f"the hub answered {probe.status} to a permission check")
            self.service.state.update(owner, name, next_spec=None if options == running else options)
        else:
            expect_ok(await self.hub_call("PATCH", route, json_body={"user_options": options}))
            self.service.state.update(owner, name, next_spec=None)
        self.send(await self.workspace(owner, name, user))

    async def delete(self, owner: str, name: str) -> None:
        await self.server(owner, name)
        answer = await self.hub_call("DELETE", path("users", owner, "servers", name), json_body={"remove": True})
        expect_ok(answer)
        self.service.state.forget(owner, name)
        if answer.status == 202:
            self.send({"owner": owner, "name": name, "state": "deleting"}, 202)
        else:
            self.set_status(204)
            self.finish()


class StartHandler(APIHandler):
    async def post(self, owner: str, name: str) -> None:
        server = await self.server(owner, name)
        remembered = self.service.state.get(owner, name)
        if server.get("ready") or server.get("pending") == "spawn":
            self.send(self.shown(await self.owner_groups(owner), server, remembered))
            return
        if server.get("pending") == "stop":
            raise ApiError(409, "conflict", f"workspace {owner}/{name} is stopping; start it once it has stopped")
        # an update made while it ran applies now; else the hub starts the spec it has
        await self.service.start(self, owner, name, remembered.get("next_spec"))
        self.send(await self.workspace(owner, name))


class StopHandler(APIHandler):
    async def post(self, owner: str, name: str) -> None:
        server = await self.server(owner, name)
        if server.get("ready") or server.get("pending") == "spawn":
            expect_ok(await self.hub_call("DELETE", path("users", owner, "servers", name)))
        self.send(await self.workspace(owner, name))


class KeepaliveHandler(APIHandler):
    """Moves the stop of a running workspace by one idle timeout (never past max_age).

    Who may stop the workspace may keep it running. The keep-alive is recorded
    as activity of that server on the hub, with the caller's token; the server
    reads it from the hub with its own token (workspaces.keepalive_server), so
    nothing of the caller's ever reaches the user's server.
    """

    async def post(self, owner: str, name: str) -> None:
        if self.request.body.strip() not in (b"", b"{}"):
            raise invalid("a keep-alive takes no parameters: send no body, or {}")
        server = await self.server(owner, name)
        user = await self.owner_groups(owner)
        if not self.may_stop(owner, name, user["groups"]):
            raise ApiError(403, "forbidden", f"keeping {owner}/{name} running needs the permission to stop it (the servers scope on it)")
        if not server.get("ready"):
            raise ApiError(409, "not_running", f"workspace {owner}/{name} is not running; start it instead")
        policy = self.settings_.culling
        cull = verdict(policy, WorkspaceFacts.of(user, server, self.catalog))
        started, last = server.get("started"), server.get("last_activity")
        current = stop_time(policy, cull, started, last)
        at = datetime.now(timezone.utc)
        until = kept_alive_until(policy, cull, started, at)
        if current is None or until is None:
            # nothing stops it (exempt, culling off, a dry run): no stop to move, nothing to count
            self.send(await self.workspace(owner, name))
            return
        if until <= current:
            raise ApiError(409, "max_age", f"workspace {owner}/{name} reaches culling.max_age at {iso(until)}; a keep-alive cannot move that")
        body = {"servers": {name: {"last_activity": iso(at)}}}
        answer = await self.hub_call("POST", path("users", owner, "activity"), json_body=body)
        if answer.status == 403:
            raise ApiError(403, "forbidden", f"the hub refused to record activity for {owner} (keeping a workspace running also needs the users:activity scope on its owner)")
        expect_ok(answer)
        self.service.kept_alive(self.caller.get("name"), owner, name, until)
        self.send(await self.workspace(owner, name))

    def may_stop(self, owner: str, name: str, groups: list[str]) -> bool:
        """What the hub asks of a stop: the servers scope on this server (or its owner, or a group of theirs)."""
        scopes = set(self.caller.get("scopes", []))
        wanted = {f"servers!server={owner}/{name}"}
        # jupyterhub's check resolves every filter but group -> user; those are checked here
        return bool(check_scopes(wanted, scopes)) or any(check_scopes({f"servers!group={g}"}, scopes) for g in groups)


class ProgressHandler(APIHandler):
    async def get(self, owner: str, name: str) -> None:
        await self.server(owner, name)
        with self.service.stream_slot(self.caller["name"]):
            stream = self.hub.stream(self.token, path("users", owner, "servers", name, "progress"))
            try:
                async for chunk in stream:
                    if not self._headers_written:
                        self.set_header("Content-Type", "text/event-stream")
                        self.set_header("X-Accel-Buffering", "no")
                    self.write(chunk)
                    await self.flush()
            except HubRefused as e:
                if e.answer.status in (400, 404):
                    raise ApiError(409, "conflict", f"workspace {owner}/{name} is not starting") from None
                expect_ok(e.answer)
        self.finish()


class CatalogHandler(APIHandler):
    """What the image handlers share: who may edit, and the entry in the body."""

    def require_catalog_admin(self) -> None:
        if not self.catalog_admin:
            raise ApiError(403, "forbidden", f"changing the image catalog needs the {CATALOG_SCOPE} scope (an admin)")

    def request_entry(self) -> dict[str, Any]:
        self.require_catalog_admin()
        return self.json_body(tuple(ImageEntry.model_fields), required=("id", "display_name", "image"))

    def images(self) -> list[ImageEntry]:
        """The images the caller may see: all for catalog admins, else what the groups allow."""
        if self.catalog_admin:
            return list(self.catalog.images)
        return self.catalog.images_for(self.caller_groups())

    def visible(self, image_id: str) -> ImageEntry:
        image = next((i for i in self.images() if i.id == image_id), None)
        if image is None:
            raise not_found(f"image {image_id!r}")
        return image


class ImagesHandler(CatalogHandler):
    def get(self) -> None:
        backend = self.settings_.backend
        self.send({"items": [image_json(i, backend, self.catalog_admin) for i in self.images()]})

    def post(self) -> None:
        entry = self.service.edit_images(self, "add", None, self.request_entry())
        self.send(image_json(entry, self.settings_.backend, True), 201)


class ImageHandler(CatalogHandler):
    def get(self, image_id: str) -> None:
        self.send(image_json(self.visible(image_id), self.settings_.backend, self.catalog_admin))

    def put(self, image_id: str) -> None:
        body = self.request_entry()
        if body.get("id") != image_id:
            raise invalid("id mismatch", Issue("id", f"must be {image_id!r}, the id in the path"))
        entry = self.service.edit_images(self, "update", image_id, body)
        self.send(image_json(entry, self.settings_.backend, True))

    def delete(self, image_id: str) -> None:
        self.require_catalog_admin()
        self.service.edit_images(self, "remove", image_id, None)
        self.set_status(204)
        self.finish()


class DeprecateHandler(CatalogHandler):
    def post(self, image_id: str) -> None:
        self.require_catalog_admin()
        body = self.json_body(("message", "use"), required=("message",))
        if not isinstance(body["message"], str) or not body["message"].strip():
            raise invalid("bad message", Issue("message", "must be a non-empty string"))
        image = self.visible(image_id)
        # a new message keeps the successor named before, unless the request names another
        use = body.get("use", image.deprecated.use if image.deprecated else None)
        deprecation = {"message": body["message"].strip(), **({"use": use} if use is not None else {})}
        entry = {**image.model_dump(exclude_defaults=True, mode="json"), "deprecated": deprecation}
        updated = self.service.edit_images(self, "update", image_id, entry)
        self.send(image_json(updated, self.settings_.backend, True))


class ProfilesHandler(APIHandler):
    async def get(self) -> None:
        admin = self.catalog_admin  # every profile, with the rules behind it
        profiles = self.catalog.profiles if admin else self.catalog.profiles_for(self.caller_groups())
        capacity = await self.service.capacity.of(profiles)
        items = [profile_json(p, admin=admin, policy=self.settings_.culling if admin else None) for p in profiles]
        for item in items:
            item["capacity"] = capacity[item["id"]].json()
        self.send({"items": items})


class InfoHandler(APIHandler):
    """Who the caller is and what this hub offers: what a client needs before it shows a form."""

    async def get(self) -> None:
        settings = self.settings_
        caller = self.caller
        budget = None  # a service has no budget
        if caller.get("kind") == "user":
            budget = user_budget(settings, self.catalog, await self.owner_model(caller["name"]))
        self.send({
            "caller": {
                "name": caller.get("name"),
                "kind": caller.get("kind"),
                "groups": self.caller_groups(),
                "admin": bool(caller.get("admin")),
                "list_all": self.may_list_users,
                "catalog_admin": self.catalog_admin,
            },
            "backend": settings.backend,
            "storage": {"default_size": settings.storage.default_size, "max_size": settings.storage.max_size},
            "culling": {
                "enabled": settings.culling.enabled,
                "dry_run": settings.culling.dry_run,
                "default_timeout": settings.culling.default_timeout,
            },
            "budget": budget,
            # the dashboard offers Share where the hub shares, and says why not elsewhere
            "sharing": {"refused": sharing_refusal(settings, os.geteuid())},
            # the create form offers a custom image where one can run, and says why not elsewhere
            "custom_images": custom_images_offer(self.catalog, settings.backend),
        })


class NamespacesHandler(APIHandler):
    async def get(self) -> None:
        items = await self.service.namespaces_for(self.caller)
        quotas = await self.service.capacity.quotas(i["name"] for i in items) if items else {}
        for item in items:
            if item["name"] in quotas:
                item["quotas"] = quotas[item["name"]]
        self.send({"backend": self.settings_.backend, "items": items})


class MetricsHandler(APIHandler):
    """The API's Prometheus metrics (keep-alives): JupyterHub's read:metrics scope, as for the hub's own."""

    def get(self) -> None:
        if not check_scopes({"read:metrics"}, set(self.caller.get("scopes", []))):
            raise ApiError(403, "forbidden", "the API's metrics need the read:metrics scope (admins have it)")
        self.set_header("Content-Type", self.service.metrics.content_type)
        self.finish(self.service.metrics.text())


class NotFoundHandler(APIHandler):
    def prepare(self) -> None:  # type: ignore[override]
        raise not_found(f"{self.request.method} {self.request.path}")
