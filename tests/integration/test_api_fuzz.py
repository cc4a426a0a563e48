"""Property-based fuzzing of the live API from its own OpenAPI document (schemathesis).

One campaign against a dedicated hub, run once per module; each test below
checks one property of what it saw:

- at least 500 generated requests were sent (the count is printed);
- no request got a 5xx;
- every answer has a status code, content type and headers the document lists;
- every JSON body is valid against the document's schema;
- every event of the progress stream is valid against the document's schema;
- every operation got past authentication, and those the caller may use
  succeeded (2xx) at least once, so the fuzzing reached the service's logic.

The caller is a normal user (their own token, also where negative generation
would have mangled the Authorization header: authentication is the subject of
test_api_authz.py, here the inputs are). The catalog writes and the use of everyone, which a user is
refused before the body is read, are fuzzed again as the admin.

Part of each positive batch is aimed at what exists (the user's workspaces,
the catalog's images, the current revision, known image and profile ids), so
that requests get past "not found" into validation and the actions themselves.

Starts are bounded and cheap: every image of the fuzzing catalog runs a tiny
HTTP server instead of JupyterLab (a start takes a fraction of a second), and
``named_server_limit_per_user`` caps how many workspaces the user can create.
Generation is derandomized (the same requests in the same order every run) and
the campaign stops at a time budget.

Hostile inputs found while fuzzing by hand are pinned in
``test_a_hostile_input_gets_an_answer_not_a_server_error``.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ..support.hub import DATA, Hub
from ..support.stub_server import LOCAL_RUNTIME as STUB_RUNTIME

pytestmark = pytest.mark.hub

USER = "fuzz"
KNOWN_WORKSPACES = ("w1", "w2")  # the user's own: w1 running, w2 stopped
KNOWN_IMAGES = ("lab", "cuda", "team-lab", "old-lab", "code-server")
KNOWN_PROFILES = ("small", "medium", "gpu-1", "big")
MIN_REQUESTS = 500
# Seconds for the campaign: it takes about 30 s on a quiet machine, and twice or more while the
# other test worker (or anything else) keeps the 2 cores busy; the budget only bounds a hung run.
TIME_BUDGET = 150.0
REQUEST_TIMEOUT = 15.0

# Examples per (positive, negative) batch; hypothesis stops early where the inputs allow fewer.
EXAMPLES = (40, 25)
FEW = (10, 5)  # admin-only operations as a user: refused before the body is read (and fuzzed again as the admin)
NO_INPUTS = (3, 0)  # operations without parameters or body: nothing to vary
ADMIN_OPERATIONS = ("addImage", "updateImage", "deprecateImage", "removeImage", "getUsage")
# Run order: progress and keep-alive while w1 still runs, removals last, so the others meet what exists.
ORDER = {"workspaceProgress": 0, "keepWorkspaceAlive": 0, "deleteWorkspace": 2, "removeImage": 2}  # the rest: 1, in the document's order

# Which checks decide which test.
BUCKETS = {
    "server error": [not_a_server_error],
    "undocumented answer": [status_code_conformance, content_type_conformance, response_headers_conformance],
    "body schema": [response_schema_conformance],
}



@dataclass
class Finding:
    operation: str
    status: int
    title: str
    detail: str
    curl: str


@dataclass
class Campaign:
    requests: int = 0
    seconds: float = 0.0
    statuses: dict[str, Counter] = field(default_factory=dict)  # operation label -> status -> count
    findings: dict[str, list[Finding]] = field(default_factory=dict)  # bucket -> findings
    notes: list[str] = field(default_factory=list)  # campaign problems (generation, time budget)

    def found(self, bucket: str) -> list[Finding]:
        return self.findings.get(bucket, [])


def fuzz_catalog() -> dict[str, Any]:
    """The test catalog with every local runtime replaced by the stub server."""
    catalog = yaml.safe_load((DATA / "catalog.yaml").read_text())
    for image in catalog["images"]:
        if image.get("local"):
            image["local"] = STUB_RUNTIME
    return catalog


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "catalog.yaml").write_text(yaml.safe_dump(fuzz_catalog()))
    hub = Hub(root / "hub", catalog=root / "catalog.yaml", settings={"named_server_limit_per_user": 4})
    try:
        hub.start()
        token = hub.user_token(USER)
        for name in KNOWN_WORKSPACES:
            r = hub.ws("POST", "/workspaces", token=token, json={"name": name})
            assert r.status_code == 201, r.text
            hub.wait_ready(USER, name)
        assert hub.ws("POST", f"/workspaces/{USER}/w2/stop", token=token).status_code == 200
        hub.wait_stopped(USER, "w2")
        yield hub
    finally:
        hub.shutdown()


# -- generation -------------------------------------------------------------------------------


def operation_id(operation: Any) -> str:
    return operation.definition.raw["operationId"]


def has_inputs(operation: Any) -> bool:
    return bool(operation.definition.raw.get("requestBody")) or any(
        p.location in ("path", "query") for p in operation.iter_parameters()
    )


def strategy_for(operation: Any, mode: GenerationMode) -> Any:
    """Generated cases, and as many again with path parameters naming what exists."""
    generated = operation.as_strategy(generation_mode=mode)
    names = {p.name for p in operation.iter_parameters() if p.location == "path"}
    if names == {"owner", "name"}:
        known = [{"owner": USER, "name": n} for n in KNOWN_WORKSPACES]
    elif names == {"id"}:
        known = [{"id": i} for i in KNOWN_IMAGES]
    else:
        return generated
    aimed = st.sampled_from(known).flatmap(lambda p: operation.as_strategy(generation_mode=mode, path_parameters=p))
    return st.one_of(generated, aimed)


AIMED_SPECS = st.fixed_dictionaries(
    {},
    optional={
        "image": st.sampled_from(KNOWN_IMAGES),
        "profile": st.sampled_from(KNOWN_PROFILES),
        "gpus": st.integers(0, 2),
        "storage": st.sampled_from(["1Gi", "10Gi", "5", "lots"]),
        "namespace": st.sampled_from(["", "team", USER]),
    },
)


def aim(op_id: str, case: Any, data: Any, hub: Hub, token: str) -> None:
    """Point a generated positive body at what exists, keeping the rest of what was generated."""
    body = case.body
    if not isinstance(body, dict):
        return
    if op_id == "createWorkspace":
        body["owner"] = USER
        body["spec"] = data.draw(AIMED_SPECS)
        if data.draw(st.booleans()):
            body["name"] = data.draw(st.sampled_from(KNOWN_WORKSPACES))
    elif op_id == "updateWorkspace":
        name = data.draw(st.sampled_from(KNOWN_WORKSPACES))
        case.path_parameters = {"owner": USER, "name": name}
        body["spec"] = data.draw(AIMED_SPECS)
        current = hub.ws("GET", f"/workspaces/{USER}/{name}", token=token)
        if current.status_code == 200:
            body["revision"] = current.json()["revision"]
    elif op_id in ("addImage", "updateImage"):
        if op_id == "updateImage":
            body["id"] = case.path_parameters["id"]
        else:
            body["id"] = data.draw(st.sampled_from(["fz-1", "fz-2", "lab"]))
        body["display_name"] = body.get("display_name") or "Fuzzed"
        body["image"] = body.get("image") or "example.org/fuzzed:1"
        for key in ("local", "default"):  # a random local runtime or a second default: refused anyway
            body.pop(key, None)


# -- the campaign ---------------------------------------------------------------------------------


def is_event_stream(response: Any) -> bool:
    return any(v.startswith("text/event-stream") for v in response.headers.get("content-type", []))


def run_campaign(hub: Hub) -> Campaign:
    base_url = f"{hub.url}/services/workspaces/api/v1"
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    user = hub.user_token(USER)
    passes = [(op, user) for op in operations]
    passes += [(op, hub.admin_token) for op in operations if operation_id(op) in ADMIN_OPERATIONS]
    passes.sort(key=lambda p: ORDER.get(operation_id(p[0]), 1))
    campaign = Campaign()
    started = time.monotonic()

    for operation, token in passes:
        op_id = operation_id(operation)
        label = op_id if token == user else f"{op_id} (admin)"
        examples = NO_INPUTS if not has_inputs(operation) else FEW if label in ADMIN_OPERATIONS else EXAMPLES
        statuses = campaign.statuses.setdefault(label, Counter())
        for mode, count in zip((GenerationMode.POSITIVE, GenerationMode.NEGATIVE), examples):
            if not count:
                continue
            if time.monotonic() - started > TIME_BUDGET:
                campaign.notes.append(f"{label} {mode.value}: skipped, the time budget of {TIME_BUDGET:.0f}s is spent")
                continue

            @given(case=strategy_for(operation, mode), data=st.data())
            @settings(
                max_examples=count,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
                verbosity=Verbosity.quiet,
            )
            def send(case: Any, data: Any) -> None:  # run at once: the loop variables are current
                case.headers = {**(case.headers or {}), "Authorization": f"token {token}"}
                if mode is GenerationMode.POSITIVE and data.draw(st.booleans()):
                    aim(op_id, case, data, hub, token)
                response = case.call(base_url=base_url, timeout=REQUEST_TIMEOUT)
                campaign.requests += 1
                statuses[response.status_code] += 1
                for bucket, checks in BUCKETS.items():
                    try:
                        case.validate_response(response, checks=checks)
                    except FailureGroup as group:
                        if bucket == "body schema" and is_event_stream(response):
                            bucket = "event schema"
                        for failure in group.exceptions:
                            campaign.findings.setdefault(bucket, []).append(
                                Finding(label, response.status_code, failure.title, str(failure.message)[:600],
                                        case.as_curl_command(base_url=base_url))
                            )

            try:
                send()
            except Exception as e:  # a generation problem: reported by test_every_operation_..., not hidden
                campaign.notes.append(f"{label} {mode.value}: {type(e).__name__}: {e}"[:300])
    campaign.seconds = time.monotonic() - started
    return campaign


@pytest.fixture(scope="module")
def campaign(fuzz_hub: Hub) -> Campaign:
    return run_campaign(fuzz_hub)


def report(findings: list[Finding]) -> str:
    """One example per (operation, status, kind), with the request to reproduce it (token filtered)."""
    seen: dict[tuple[str, int, str], Finding] = {}
    for f in findings:
        seen.setdefault((f.operation, f.status, f.title), f)
    return f"{len(findings)} failing requests:\n\n" + "\n\n".join(
        f"{f.operation} -> {f.status}: {f.title}\n{f.detail}\n{f.curl}" for f in seen.values()
    )


# -- the properties -----------------------------------------------------------------------------


def test_fuzzing_sends_at_least_500_requests(campaign: Campaign, capsys, record_property) -> None:
    record_property("schemathesis_requests", campaign.requests)
    with capsys.disabled():
        print(f"\nschemathesis {schemathesis.__version__}: {campaign.requests} requests in {campaign.seconds:.1f}s")
        for label, statuses in campaign.statuses.items():
            print(f"  {label}: {sum(statuses.values())} {dict(sorted(statuses.items()))}")
        for note in campaign.notes:
            print(f"  note: {note}")
    assert campaign.requests >= MIN_REQUESTS


def test_no_fuzzed_request_gets_a_server_error(campaign: Campaign) -> None:
    assert not campaign.found("server error"), report(campaign.found("server error"))


def test_every_fuzzed_answer_has_a_documented_status_content_type_and_headers(campaign: Campaign) -> None:
    assert not campaign.found("undocumented answer"), report(campaign.found("undocumented answer"))


def test_every_fuzzed_json_body_conforms_to_the_document(campaign: Campaign) -> None:
    assert not campaign.found("body schema"), report(campaign.found("body schema"))


def test_every_progress_event_conforms_to_the_document(campaign: Campaign) -> None:
    assert campaign.statuses["workspaceProgress"][200], "no progress stream was fuzzed"
    assert not campaign.found("event schema"), report(campaign.found("event schema"))


def test_every_operation_gets_past_authentication_and_those_allowed_succeed(campaign: Campaign) -> None:
    assert not campaign.notes
    for label, statuses in campaign.statuses.items():
        assert set(statuses) - {401}, f"{label}: {dict(statuses)}"
        if label not in ADMIN_OPERATIONS:  # a user's catalog writes and everyone's use: 403, as they should
            assert any(200 <= s < 300 for s in statuses), f"{label}: {dict(statuses)}"


# -- hostile inputs found while fuzzing -------------------------------------------------------------


def cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([offset, "a", "b"]).encode()).decode().rstrip("=")


HOSTILE = [
    pytest.param("user", "GET", "/workspaces", {"params": {"limit": "²"}},
                 id="limit-of-a-superscript-digit"),
    pytest.param("user", "GET", "/workspaces", {"params": {"limit": "٣"}}, id="limit-of-an-arabic-indic-digit"),
    pytest.param("admin", "GET", "/workspaces", {"params": {"after": cursor(10**20)}},
                 id="cursor-with-an-offset-past-int64"),
    pytest.param("admin", "GET", "/workspaces", {"params": {"after": cursor(-1)}}, id="cursor-with-a-negative-offset"),
    pytest.param("user", "POST", "/workspaces", {"data": "[" * 50_000 + "]" * 50_000},
                 id="body-nested-50000-deep"),
    pytest.param("user", "POST", "/workspaces", {"data": '{"name": "x", "spec": {"gpus": 1' + "0" * 5000 + "}}"},
                 id="body-with-a-5000-digit-number"),
    pytest.param("user", "POST", "/workspaces", {"data": '{"name": "x", "spec": {"gpus": NaN}}'}, id="body-with-nan"),
    pytest.param("user", "POST", "/workspaces", {"data": b'{"name": "\xff"}'}, id="body-not-utf-8"),
    pytest.param("user", "GET", "/workspaces", {"params": {"owner": "a\x00b"}}, id="owner-with-a-nul"),
    pytest.param("user", "GET", f"/workspaces/{USER}/w%00", {}, id="workspace-name-with-a-nul"),
    pytest.param("user", "PATCH", "/images", {}, id="undocumented-method-on-images"),
    pytest.param("admin", "POST", "/images/lab", {"json": {"id": "lab", "display_name": "x", "image": "y"}},
                 id="undocumented-post-on-an-image"),
    pytest.param("user", "GET", "/images/lab/deprecate", {},
                 id="undocumented-get-on-deprecate"),
]


@pytest.mark.parametrize("caller, method, path, request_kwargs", HOSTILE)
def test_a_hostile_input_gets_an_answer_not_a_server_error(fuzz_hub: Hub, caller: str, method: str, path: str,
                                                            request_kwargs: dict[str, Any]) -> None:
    token = fuzz_hub.user_token(USER) if caller == "user" else None
    r = fuzz_hub.ws(method, path, token=token, **request_kwargs)
    assert r.status_code < 500, f"{r.status_code} {r.text[:300]}"
    if r.status_code >= 400:
        assert set(r.json()) == {"error"}, r.text


def test_a_workspace_name_the_hub_would_refuse_is_refused_naming_the_field(fuzz_hub: Hub) -> None:
    r = fuzz_hub.ws("POST", "/workspaces", token=fuzz_hub.user_token("names"), json={"name": "Notes_2"})
    assert r.status_code == 400, r.text
    assert [f["path"] for f in r.json()["error"]["fields"]] == ["name"]
