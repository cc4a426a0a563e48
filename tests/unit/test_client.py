"""The API client and the API commands of the CLI against a stand-in API on loopback."""

from __future__ import annotations

import io
import json
import os
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from workspaces import cli
from workspaces.client import (
    API_PATH,
    APIError,
    Client,
    FieldError,
    HubUnreachable,
    StartFailed,
    Workspace,
    parse_sse,
)

from ..support.hub import free_ports

# A response: (status, headers, body); body is JSON-encoded unless it is bytes.
Response = tuple[int, dict[str, str], Any]
Route = Callable[[dict[str, Any]], Response]


def workspace_json(name: str = "ws", owner: str = "alice", state: str = "running", **extra: Any) -> dict[str, Any]:
    return {
        "owner": owner,
        "name": name,
        "namespace": None,
        "spec": {"image": "lab", "profile": "small"},
        "revision": "r1",
        "restart_pending": False,
        "state": state,
        "failure_reason": None,
        "url": f"/user/{owner}/{name}/",
        "gpus": 0,
        "created": "2025-10-20T10:00:00.123456Z",
        "started": None,
        "last_activity": "2025-10-20T10:05:00+00:00",
        **extra,
    }


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)


class FakeAPI:
    """A stand-in of the workspaces API (and the hub's /hub/api/user) on 127.0.0.1, port 0."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = {
                    "method": self.command,
                    "path": parsed.path,
                    "query": {k: v[-1] for k, v in parse_qs(parsed.query).items()},
                    "headers": dict(self.headers),
                    "body": json.loads(raw) if raw else None,
                }
                fake.requests.append(request)
                route = fake.routes.get((self.command, parsed.path))
                if route is None:
                    status, headers, body = 404, {"Content-Type": "text/html"}, b"<html>404 Not Found</html>"
                else:
                    status, headers, body = route(request)
                if callable(body):  # a stream: each piece as it comes, then the connection closes
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    for piece in body():
                        self.wfile.write(piece)
                        self.wfile.flush()
                    return
                data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def on(self, method: str, path: str, response: Response | Route) -> None:
        """Answer ``method API_PATH+path`` (or a /hub/ path as is) with ``response``."""
        full = path if path.startswith("/hub/") else API_PATH + path
        self.routes[(method, full)] = response if callable(response) else (lambda _r, _x=response: _x)

    def calls(self, method: str, path: str) -> list[dict[str, Any]]:
        full = path if path.startswith("/hub/") else API_PATH + path
        return [r for r in self.requests if r["method"] == method and r["path"] == full]


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    fake = FakeAPI()
    fake.thread.start()
    fake.on("GET", "/hub/api/user", (200, {}, {"kind": "user", "name": "alice"}))
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


@pytest.fixture
def client(api: FakeAPI) -> Iterator[Client]:
    with Client(api.url + "/", "secret", timeout=5) as c:
        yield c


# -- server-sent events ------------------------------------------------------------


def test_sse_joins_data_lines_and_skips_keepalives_comments_and_junk():
    lines = [
        "",
        "",  # keep-alives
        ": a comment",
        "event: progress",
        'data: {"progress": 10,',
        'data:  "message": "two lines"}',
        "",
        "data: not json",
        "",
        "data: {}",
        "",
        'data: {"progress": 100, "ready": true}\r',
    ]
    assert list(parse_sse(lines)) == [{"progress": 10, "message": "two lines"}, {"progress": 100, "ready": True}]


def test_progress_stops_at_the_ready_event(api, client):
    api.on(
        "GET",
        "/workspaces/alice/ws/progress",
        (200, {"Content-Type": "text/event-stream"}, b"\n\n" + sse(
            {"progress": 20, "message": "Spawning server..."},
            {"progress": 100, "ready": True, "message": "Server ready", "url": "/user/alice/ws/"},
            {"progress": 100, "message": "after the end"},
        )),
    )
    events = list(client.progress("alice", "ws"))
    assert [(e.progress, e.message, e.ready) for e in events] == [
        (20, "Spawning server...", False),
        (100, "Server ready", True),
    ]
    assert events[-1].url == "/user/alice/ws/"


def test_progress_stops_at_the_failed_event(api, client):
    api.on(
        "GET",
        "/workspaces/alice/ws/progress",
        (200, {"Content-Type": "text/event-stream"}, sse(
            {"progress": 50, "message": "Pulling"},
            {"progress": 100, "failed": True, "message": "Spawn failed: no such image"},
            {"progress": 100, "message": "after the end"},
        )),
    )
    events = list(client.progress("alice", "ws"))
    assert events[-1].failed and events[-1].message == "Spawn failed: no such image"
    assert len(events) == 2


def test_progress_events_arrive_while_the_stream_is_open(api, client):
    release, second_sent = threading.Event(), threading.Event()

    def stream() -> Iterator[bytes]:
        yield sse({"progress": 10, "message": "first"})
        release.wait(5)
        second_sent.set()
        yield sse({"progress": 100, "ready": True, "message": "Server ready at /user/alice/ws/ – done"})

    api.on("GET", "/workspaces/alice/ws/progress", (200, {"Content-Type": "text/event-stream"}, stream))
    events = client.progress("alice", "ws")
    assert next(events).message == "first"
    assert not second_sent.is_set()
    release.set()
    last = next(events)
    assert last.ready and last.message.endswith("– done")  # UTF-8, whatever the charset says


# -- errors --------------------------------------------------------------------------


def test_an_api_error_carries_status_code_message_and_fields(api, client):
    error = {
        "error": {
            "code": "invalid_spec",
            "message": "Invalid workspace spec",
            "fields": [{"path": "spec.image", "message": "unknown image 'x'; allowed: lab"}],
        }
    }
    api.on("POST", "/workspaces", (400, {}, error))
    with pytest.raises(APIError) as caught:
        client.create_workspace("ws", image="x")
    e = caught.value
    assert (e.status, e.code, e.message) == (400, "invalid_spec", "Invalid workspace spec")
    assert e.fields == [FieldError("spec.image", "unknown image 'x'; allowed: lab")]
    assert str(e) == "spec.image: unknown image 'x'; allowed: lab"
    assert e.retry_after is None


def test_too_many_starts_carries_retry_after(api, client):
    body = {"error": {"code": "too_many_starts", "message": "the hub is starting too many servers"}}
    api.on("POST", "/workspaces/alice/ws/start", (429, {"Retry-After": "7"}, body))
    with pytest.raises(APIError) as caught:
        client.start_workspace("alice", "ws")
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (429, "too_many_starts", 7.0)


def test_an_answer_that_is_not_the_api_is_an_api_error_with_a_code(api, client):
    with pytest.raises(APIError) as caught:  # no such route: the stand-in's HTML 404
        client.list_images()
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    assert "is the workspaces service running?" in str(caught.value)


def test_a_redirect_is_an_error_not_followed(api, client):
    api.on("GET", "/images", (302, {"Location": "/hub/login"}, None))
    with pytest.raises(APIError) as caught:
        client.list_images()
    assert caught.value.status == 302 and "/hub/login" in str(caught.value)
    assert len(api.calls("GET", "/images")) == 1


def test_an_unreachable_hub_is_a_connection_error_in_one_line():
    port = free_ports(1)[0]
    with pytest.raises(HubUnreachable) as caught:
        Client(f"http://127.0.0.1:{port}", "secret", timeout=5).list_images()
    assert isinstance(caught.value, ConnectionError)
    assert str(caught.value) == f"cannot reach the hub at http://127.0.0.1:{port}: connection refused"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_the_api_is_under_the_hubs_url_when_the_hub_serves_it_there(api, client):
    api.on("GET", "/", (200, {}, {"service": "workspaces", "openapi": "openapi.json"}))
    assert client.api_url == f"{api.url}{API_PATH}"


def test_the_api_is_on_the_services_own_host_when_the_hub_routes_by_host(api):
    # a hub with hub.subdomain_host sends a path it does not serve on its host into /hub/
    api.on("GET", "/", (302, {"Location": f"{api.url}/hub{API_PATH}/"}, None))
    with Client(api.url, "secret", timeout=5) as c:
        assert c.api_url == f"http://workspaces--service.{api.url.removeprefix('http://')}{API_PATH}"


def test_a_url_without_a_scheme_is_refused():
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        Client("127.0.0.1:8000", "secret")


# -- requests and results --------------------------------------------------------------


def test_requests_carry_the_token(api, client):
    api.on("GET", "/images", (200, {}, {"items": []}))
    client.list_images()
    assert api.calls("GET", "/images")[0]["headers"]["Authorization"] == "token secret"


def test_a_workspace_parses_dates_and_leaves_unknown_keys_out(api, client):
    api.on("GET", "/workspaces/alice/ws", (200, {}, workspace_json(color="blue")))
    ws = client.get_workspace("alice", "ws")
    assert ws.created == datetime(2025, 10, 20, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert ws.last_activity == datetime(2025, 10, 20, 10, 5, tzinfo=timezone.utc)
    assert ws.started is None
    assert ws.spec.image == "lab" and ws.spec.volumes == ()
    assert not hasattr(ws, "color") and ws.raw["color"] == "blue"
    assert client.workspace_url(ws) == f"{api.url}/user/alice/ws/"


def test_owner_and_name_are_quoted_in_paths(api, client):
    api.on("GET", "/workspaces/a%40b.org/x.y", (200, {}, workspace_json("x.y", "a@b.org")))
    assert client.get_workspace("a@b.org", "x.y").owner == "a@b.org"


def test_create_tells_a_new_workspace_from_an_existing_one(api, client):
    statuses = iter([201, 200])
    api.on("POST", "/workspaces", lambda r: (next(statuses), {}, workspace_json(state="pending")))
    first = client.create_workspace("ws", image="lab", profile="small", gpus=0, owner="alice")
    again = client.create_workspace("ws", spec={"image": "lab", "profile": "small", "gpus": 0}, owner="alice")
    assert first.newly_created and not again.newly_created
    bodies = [r["body"] for r in api.calls("POST", "/workspaces")]
    assert bodies[0] == bodies[1] == {"name": "ws", "owner": "alice", "spec": {"image": "lab", "profile": "small", "gpus": 0}}


def test_list_workspaces_follows_the_next_cursor(api, client):
    pages = {None: (["a", "b"], "c1"), "c1": (["c"], "c2"), "c2": ([], None)}

    def page(request: dict[str, Any]) -> Response:
        names, following = pages[request["query"].get("after")]
        return 200, {}, {"items": [workspace_json(n) for n in names], "next": following}

    api.on("GET", "/workspaces", page)
    assert [w.name for w in client.list_workspaces(state="running", limit=2)] == ["a", "b", "c"]
    queries = [r["query"] for r in api.calls("GET", "/workspaces")]
    assert queries == [
        {"state": "running", "limit": "2"},
        {"state": "running", "limit": "2", "after": "c1"},
        {"state": "running", "limit": "2", "after": "c2"},
    ]


def test_update_sends_spec_and_revision(api, client):
    api.on("PATCH", "/workspaces/alice/ws", (200, {}, workspace_json(restart_pending=True)))
    ws = client.update_workspace("alice", "ws", {"image": "lab", "profile": "medium"}, "r1")
    assert ws.restart_pending
    assert api.calls("PATCH", "/workspaces/alice/ws")[0]["body"] == {
        "spec": {"image": "lab", "profile": "medium"},
        "revision": "r1",
    }


def test_delete_tells_deleted_from_deleting(api, client):
    api.on("DELETE", "/workspaces/alice/a", (204, {}, None))
    api.on("DELETE", "/workspaces/alice/b", (202, {}, {"owner": "alice", "name": "b", "state": "deleting"}))
    assert client.delete_workspace("alice", "a").done
    assert client.delete_workspace("alice", "b").state == "deleting"


def test_update_image_puts_the_entry_under_its_id(api, client):
    image = {"id": "lab", "display_name": "Lab", "description": "", "image": "x:1", "kind": "jupyterlab",
             "gpu": False, "default": False, "deprecated": None, "available": True, "unavailable_reason": None}
    api.on("PUT", "/images/lab", lambda r: (200, {}, {**image, **r["body"]}))
    assert client.update_image("lab", {"display_name": "Lab", "image": "x:2"}).image == "x:2"
    assert api.calls("PUT", "/images/lab")[0]["body"] == {"id": "lab", "display_name": "Lab", "image": "x:2"}


# -- waiting for a start ------------------------------------------------------------------


def test_wait_ready_reports_events_and_returns_the_running_workspace(api, client):
    states = iter(["pending", "running"])
    api.on("GET", "/workspaces/alice/ws", lambda r: (200, {}, workspace_json(state=next(states))))
    api.on(
        "GET",
        "/workspaces/alice/ws/progress",
        (200, {"Content-Type": "text/event-stream"}, sse(
            {"progress": 50, "message": "Spawning"}, {"progress": 100, "ready": True, "url": "/user/alice/ws/"}
        )),
    )
    seen = []
    ws = client.wait_ready("alice", "ws", on_event=seen.append, timeout=10)
    assert ws.state == "running"
    assert [e.progress for e in seen] == [50, 100]


def test_wait_ready_raises_start_failed_with_the_message(api, client):
    api.on("GET", "/workspaces/alice/ws", (200, {}, workspace_json(state="pending")))
    api.on(
        "GET",
        "/workspaces/alice/ws/progress",
        (200, {"Content-Type": "text/event-stream"}, sse({"progress": 100, "failed": True, "message": "boom"})),
    )
    with pytest.raises(StartFailed, match=r"^alice/ws failed to start: boom$"):
        client.wait_ready("alice", "ws", timeout=10)


def test_wait_ready_falls_back_to_the_state_when_the_stream_ends_early(api, client):
    states = iter(["pending", "failed"])
    api.on(
        "GET",
        "/workspaces/alice/ws",
        lambda r: (200, {}, workspace_json(state=(s := next(states)), failure_reason="no memory" if s == "failed" else None)),
    )
    api.on("GET", "/workspaces/alice/ws/progress", (200, {"Content-Type": "text/event-stream"}, b"\n\n"))
    with pytest.raises(StartFailed, match="no memory"):
        client.wait_ready("alice", "ws", timeout=10)


# -- the command line ----------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("WORKSPACES_URL", raising=False)
    monkeypatch.delenv("WORKSPACES_TOKEN", raising=False)
    return tmp_path


def test_login_writes_the_login_file_for_its_owner_only(api, home, capsys):
    api.on("GET", "/images", (200, {}, {"items": []}))
    assert cli.main(["login", api.url, "--token", "secret"]) == 0
    path = home / "config" / "workspaces" / "login.json"
    assert json.loads(path.read_text()) == {"url": api.url, "token": "secret"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert capsys.readouterr().out.strip() == f"Logged in to {api.url} as alice; saved in {path}"


def test_login_falls_back_to_home_config_without_xdg(api, home, monkeypatch):
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("WORKSPACES_TOKEN", "secret")
    api.on("GET", "/images", (200, {}, {"items": []}))
    assert cli.main(["login", api.url]) == 0
    assert json.loads((home / ".config" / "workspaces" / "login.json").read_text())["token"] == "secret"


def test_login_with_a_refused_token_saves_nothing(api, home, capsys):
    api.on("GET", "/images", (401, {}, {"error": {"code": "unauthorized", "message": "the token is not valid"}}))
    assert cli.main(["login", api.url, "--token", "bad"]) == 1
    assert capsys.readouterr().err == f"workspaces: error: the hub at {api.url} refused the token: the token is not valid\n"
    assert not (home / "config" / "workspaces" / "login.json").exists()


def test_commands_use_the_saved_login(api, home, capsys):
    api.on("GET", "/images", (200, {}, {"items": []}))
    api.on("GET", "/profiles", (200, {}, {"items": []}))
    cli.main(["login", api.url, "--token", "saved"])
    assert cli.main(["profiles", "list"]) == 0
    assert api.calls("GET", "/profiles")[0]["headers"]["Authorization"] == "token saved"


def test_profiles_list_says_whether_each_can_start_now(api, home, capsys):
    capacity = {"state": "busy", "available": False, "message": "no GPU free: 4 of 4 in use", "free": 0, "total": 4}
    api.on("GET", "/images", (200, {}, {"items": []}))
    api.on("GET", "/profiles", (200, {}, {"items": [{"id": "gpu-1", "display_name": "One GPU", "gpus": 1, "capacity": capacity}]}))
    cli.main(["login", api.url, "--token", "t"])
    capsys.readouterr()
    assert cli.main(["profiles", "list"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[-1] == "NOW" and row.endswith("no GPU free: 4 of 4 in use")


def test_without_a_login_the_error_says_to_log_in(home, capsys):
    assert cli.main(["list"]) == 1
    assert capsys.readouterr().err == (
        "workspaces: error: not logged in; run `workspaces login URL` first "
        "(or set WORKSPACES_URL and WORKSPACES_TOKEN)\n"
    )


def test_an_api_error_is_one_line_with_the_field_paths(api, home, capsys, monkeypatch):
    monkeypatch.setenv("WORKSPACES_URL", api.url)
    monkeypatch.setenv("WORKSPACES_TOKEN", "secret")
    api.on("POST", "/workspaces", (400, {}, {"error": {
        "code": "invalid_spec", "message": "Invalid workspace spec",
        "fields": [{"path": "spec.image", "message": "unknown image 'x'"}, {"path": "spec.gpus", "message": "must be >= 0"}],
    }}))
    assert cli.main(["create", "ws", "--image", "x"]) == 1
    assert capsys.readouterr().err == "workspaces: error: spec.image: unknown image 'x'; spec.gpus: must be >= 0\n"


def test_delete_without_a_terminal_or_yes_refuses(api, home, capsys, monkeypatch):
    monkeypatch.setenv("WORKSPACES_URL", api.url)
    monkeypatch.setenv("WORKSPACES_TOKEN", "secret")
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert cli.main(["delete", "ws"]) == 1
    assert capsys.readouterr().err == "workspaces: error: refusing to delete alice/ws without confirmation; pass --yes\n"
    assert not api.calls("DELETE", "/workspaces/alice/ws")


def test_list_prints_a_table(api, home, capsys, monkeypatch):
    monkeypatch.setenv("WORKSPACES_URL", api.url)
    monkeypatch.setenv("WORKSPACES_TOKEN", "secret")
    api.on("GET", "/workspaces", (200, {}, {"items": [workspace_json("analysis")], "next": None}))
    assert cli.main(["list", "--owner", "alice"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["OWNER", "NAME", "STATE", "IMAGE", "PROFILE", "GPUS", "NAMESPACE", "LAST-ACTIVITY", "WARNING"]
    assert row.split()[:7] == ["alice", "analysis", "running", "lab", "small", "0", "-"]
    assert row.split()[-2:] == ["ago", "-"]  # active a while ago; no stop coming


def test_list_shows_a_coming_stop(api, home, capsys, monkeypatch):
    monkeypatch.setenv("WORKSPACES_URL", api.url)
    monkeypatch.setenv("WORKSPACES_TOKEN", "secret")
    warning = {"at": "2025-10-20T11:05:00Z", "seconds_left": 545, "reason": "idle"}
    api.on("GET", "/workspaces", (200, {}, {"items": [workspace_json("analysis", cull_warning=warning)], "next": None}))
    assert cli.main(["list", "--owner", "alice"]) == 0
    _, row = capsys.readouterr().out.splitlines()
    assert row.endswith("stops in 9m05s (idle)")


def test_keepalive_posts_to_the_workspace_and_reads_the_new_stop(api, client):
    kept = workspace_json(cull_at="2025-10-20T12:00:00Z", cull_warning=None)
    api.on("POST", "/workspaces/alice/ws/keepalive", (200, {}, kept))
    ws = client.keepalive_workspace("alice", "ws")
    assert (ws.cull_at, ws.cull_warning) == (datetime(2025, 10, 20, 12, 0, tzinfo=timezone.utc), None)
    assert len(api.calls("POST", "/workspaces/alice/ws/keepalive")) == 1


def test_keepalive_of_a_stopped_workspace_says_why(api, home, capsys, monkeypatch):
    monkeypatch.setenv("WORKSPACES_URL", api.url)
    monkeypatch.setenv("WORKSPACES_TOKEN", "secret")
    refusal = {"error": {"code": "not_running", "message": "workspace alice/ws is not running; start it instead"}}
    api.on("POST", "/workspaces/alice/ws/keepalive", (409, {}, refusal))
    assert cli.main(["keepalive", "ws", "--owner", "alice"]) != 0
    assert "workspace alice/ws is not running; start it instead" in capsys.readouterr().err


def test_progress_without_a_terminal_is_one_line_per_change():
    from workspaces.client import ProgressEvent

    out = io.StringIO()
    display = cli.ProgressDisplay("alice/ws", out)
    for event in [ProgressEvent(10, "Requested"), ProgressEvent(10, "Requested"), ProgressEvent(100, "Ready", ready=True)]:
        display(event)
    display.close()
    assert out.getvalue() == "alice/ws:  10% Requested\nalice/ws: 100% Ready\n"


def test_progress_on_a_terminal_redraws_one_bar():
    from workspaces.client import ProgressEvent

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    display = cli.ProgressDisplay("ws", out)
    display(ProgressEvent(50, "Spawning"))
    display.close()
    assert out.getvalue() == "\rws [############------------]  50% Spawning\x1b[K\n"


def test_ages_are_compact():
    now = datetime(2025, 1, 2, 12, 0, tzinfo=timezone.utc)
    ago = lambda **kw: cli._ago(now.replace(**kw), now)  # noqa: E731
    assert [ago(second=0), ago(minute=0, hour=11), ago(day=1), cli._ago(None)] == ["just now", "1h ago", "1d ago", "-"]


def test_workspace_is_typed():
    ws = Workspace.from_json(workspace_json(gpus="2", created="not a date"))
    assert ws.gpus == 0 and ws.created is None
    assert os.path.basename(ws.url.rstrip("/")) == "ws"


def test_the_saved_token_is_never_sent_to_another_hub(api, home, capsys):
    api.on("GET", "/images", (200, {}, {"items": []}))
    cli.main(["login", api.url, "--token", "saved"])
    other = "http://127.0.0.1:1"
    assert cli.main(["images", "list", "--url", other]) == 1
    assert capsys.readouterr().err == (
        f"workspaces: error: no token for {other}: pass --token, set WORKSPACES_TOKEN or run `workspaces login {other}`\n"
    )
