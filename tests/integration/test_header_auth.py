"""auth.type header (Kubeflow mode): a real hub behind the real proxy believes the user
header only on requests that came from the trusted gateway.

All of 127.0.0.0/8 is loopback on Linux, so the test plays the gateway by
connecting from 127.0.0.9 and "elsewhere" by connecting from 127.0.0.10.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator

import pytest

from ..support.hub import Hub

pytestmark = pytest.mark.hub

GATEWAY = "127.0.0.9"
ELSEWHERE = "127.0.0.10"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    h = Hub(
        tmp_path_factory.mktemp("header-auth"),
        settings={
            "auth": {
                "type": "header",
                "admin_users": ["boss@example.com"],
                "header": {"trusted_sources": [f"{GATEWAY}/32"], "user_prefix": "accounts.google.com:"},
            },
            "culling": {"enabled": False},
        },
    )
    try:
        yield h.start()
    finally:
        h.shutdown()


def login(port: int, source: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    """GET /hub/login on 127.0.0.1:port from the source address."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    conn.request("GET", "/hub/login", headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def cookies_of(response: http.client.HTTPResponse) -> str:
    return "; ".join(c.split(";", 1)[0] for c in response.headers.get_all("Set-Cookie") or [])


def home(hub: Hub, source: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30, source_address=(source, 0))
    conn.request("GET", "/hub/home", headers=headers)
    page = conn.getresponse()
    page.read()
    conn.close()
    return page


def whoami(hub: Hub, response: http.client.HTTPResponse) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
    conn.request("GET", "/hub/home", headers={"Cookie": cookies_of(response)})
    page = conn.getresponse()
    body = page.read().decode()
    assert page.status == 200, body[:500]
    conn.close()
    return body


def test_the_header_from_the_gateway_logs_the_user_in(hub: Hub):
    response = login(hub.port, GATEWAY, {"kubeflow-userid": "accounts.google.com:alice@example.com"})
    assert response.status == 302
    assert "alice@example.com" in whoami(hub, response)


def test_a_session_ends_when_the_gateway_names_someone_else(hub: Hub):
    # someone else logged in to Kubeflow in the same browser: the hub's cookie is not theirs
    alice = login(hub.port, GATEWAY, {"kubeflow-userid": "accounts.google.com:alice@example.com"})
    cookie = cookies_of(alice)
    same = home(hub, GATEWAY, {"Cookie": cookie, "kubeflow-userid": "accounts.google.com:alice@example.com"})
    assert same.status == 200
    time.sleep(1.1)  # the hub asks the authenticator again once auth_refresh_age (1 s) has passed
    other = home(hub, GATEWAY, {"Cookie": cookie, "kubeflow-userid": "accounts.google.com:dave@example.com"})
    assert other.status == 302 and "/hub/login" in other.headers["Location"]


def test_the_groups_header_from_the_gateway_sets_the_users_groups(hub: Hub):
    login(hub.port, GATEWAY, {"kubeflow-userid": "carol@example.com", "kubeflow-groups": "ml, gpu-users"})
    assert sorted(hub.api("GET", "/users/carol@example.com").json()["groups"]) == ["gpu-users", "ml"]


def test_admin_users_are_admins(hub: Hub):
    login(hub.port, GATEWAY, {"kubeflow-userid": "boss@example.com"})
    assert hub.api("GET", "/users/boss@example.com").json()["admin"] is True


def test_the_same_header_from_elsewhere_is_refused(hub: Hub):
    response = login(hub.port, ELSEWHERE, {"kubeflow-userid": "mallory@example.com"})
    assert response.status == 403
    assert hub.api("GET", "/users/mallory@example.com").status_code == 404


def test_no_header_from_the_gateway_is_refused(hub: Hub):
    assert login(hub.port, GATEWAY, {}).status == 403


def test_forwarding_headers_that_name_the_gateway_do_not_make_a_request_trusted(hub: Hub):
    forged = {"kubeflow-userid": "mallory@example.com", "X-Forwarded-For": GATEWAY, "X-Real-Ip": GATEWAY}
    assert login(hub.port, ELSEWHERE, forged).status == 403


def test_a_request_straight_to_the_hub_that_claims_the_gateway_forwarded_it_is_refused(hub: Hub):
    # past the proxy, e.g. from a workspace that reaches the hub's API port
    forged = {"kubeflow-userid": "mallory@example.com", "X-Forwarded-For": GATEWAY, "X-Real-Ip": GATEWAY}
    assert login(hub.hub_port, ELSEWHERE, forged).status == 403
    assert hub.api("GET", "/users/mallory@example.com").status_code == 404
