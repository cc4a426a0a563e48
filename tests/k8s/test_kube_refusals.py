"""When the API server refuses the workspace's pod or PVC, the start ends with the server's words.

Admission refuses a create with 403 Forbidden (Pod Security, a ResourceQuota,
a LimitRange), validation with 422 Invalid. The user gets a 403 or a 400 with
the server's message, not a 500 and a traceback; no pod is left behind, and a
PVC made before the pod was refused stays with the workspace for its next start.

The stand-in checks nothing of that, so :class:`Admission` adds an admission
step to its create requests, answering as a real API server does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jupyterhub.spawner import SpawnException

from spawner.kubernetes import object_name

from ..support.k8s_apiserver import ApiError, ApiServerThread, ObjectHandler
from .kube import make_spawner, run, start, write_config
from .pod_security import forbidden_message, restricted_violations

ROOT_IMAGE = {"id": "rooted", "display_name": "Starts as root", "image": "example.org/rooted:1", "security": {"run_as_root": True}}
Decide = Callable[[str, dict[str, Any]], "tuple[int, str, str] | None"]


class Admission(ObjectHandler):
    """The stand-in's object API, with ``decide(plural, body)`` before each create:
    None admits it, ``(code, reason, message)`` refuses it."""

    def initialize(self, api: Any, decide: Decide) -> None:  # type: ignore[override]
        super().initialize(api)
        self.decide = decide

    async def post(self, path: str) -> None:
        refusal = self.decide(path.rsplit("/", 1)[-1], self.body())
        if refusal is not None:
            return self.fail(ApiError(*refusal))
        await super().post(path)


def admit_with(api, decide: Decide) -> None:
    """Put the admission step in front of pod and PVC creates in every namespace."""
    api.server.request_callback.add_handlers(
        r".*", [(r"/(api/v1/namespaces/[^/]+/(?:pods|persistentvolumeclaims))", Admission, {"api": api, "decide": decide})]
    )


def pod_security_restricted(plural: str, body: dict[str, Any]) -> tuple[int, str, str] | None:
    violations = restricted_violations(body) if plural == "pods" else []
    return (403, "Forbidden", forbidden_message(body, violations)) if violations else None


def refuse(kind: str, code: int, reason: str, message: str) -> Decide:
    return lambda plural, body: (code, reason, message.format(name=body["metadata"]["name"])) if plural == kind else None


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("refusals"), images=(ROOT_IMAGE,))


@pytest.fixture
def api():
    with ApiServerThread() as api:
        yield api


def refused_start(config_file: Path, api, spec: dict[str, Any], server: str) -> SpawnException:
    async def go():
        s = make_spawner(config_file, api.url, user="ann", server=server)
        s.apply_spec(spec)
        with pytest.raises(SpawnException) as info:
            await s.start()
        return info.value

    return run(go)


def test_a_workspace_pod_is_admitted_by_pod_security_restricted(config_file, api):
    admit_with(api, pod_security_restricted)
    s = run(lambda: start(config_file, api.url, {"image": "lab", "profile": "small"}, user="ann", server="plain"))
    assert [p["metadata"]["name"] for p in api.store.items("pods", s.namespace)] == [object_name("ann", "plain")]


def test_a_pod_that_pod_security_refuses_fails_the_start_with_403_naming_the_images_needs(config_file, api):
    admit_with(api, pod_security_restricted)
    error = refused_start(config_file, api, {"image": "rooted", "profile": "small"}, "rooted")
    assert (error.status_code, error.reason) == (403, "refused")
    assert 'violates PodSecurity "restricted:latest": runAsNonRoot != true' in error.jupyterhub_message
    assert "image 'rooted' needs to run as root" in error.jupyterhub_message


REFUSALS = [
    # what, the server's answer, the status the user gets
    ("persistentvolumeclaims", 403, "Forbidden",
     'persistentvolumeclaims "{name}" is forbidden: exceeded quota: storage, requested: requests.storage=10Gi, '
     "used: requests.storage=95Gi, limited: requests.storage=100Gi", 403),
    ("pods", 403, "Forbidden", 'pods "{name}" is forbidden: maximum cpu usage per Container is 2, but limit is 4', 403),
    ("pods", 422, "Invalid", 'Pod "{name}" is invalid: spec.containers[0].image: Required value', 400),
]


@pytest.mark.parametrize("kind, code, reason, message, status", REFUSALS, ids=["quota", "limit-range", "invalid"])
def test_a_refused_create_fails_the_start_with_the_servers_message(config_file, api, kind, code, reason, message, status):
    admit_with(api, refuse(kind, code, reason, message))
    error = refused_start(config_file, api, {"image": "lab", "profile": "small"}, "refused")
    assert error.status_code == status
    assert message.format(name=object_name("ann", "refused")) in error.jupyterhub_message


@pytest.mark.parametrize("kind", ["persistentvolumeclaims", "pods"])
def test_a_refused_start_leaves_no_pod(config_file, api, kind):
    admit_with(api, refuse(kind, 403, "Forbidden", '{name} is forbidden: exceeded quota'))
    refused_start(config_file, api, {"image": "lab", "profile": "small"}, "quota")
    assert api.store.items("pods", None) == []


def test_the_pvc_made_before_the_pod_was_refused_serves_the_next_start(config_file, api):
    refusing = {"on": True}
    admit_with(api, lambda plural, body: pod_security_restricted(plural, body) if refusing["on"] else None)
    refused_start(config_file, api, {"image": "rooted", "profile": "small"}, "later")
    [claim] = api.store.items("persistentvolumeclaims", None)

    refusing["on"] = False  # e.g. an admin relaxed the namespace's Pod Security level
    run(lambda: start(config_file, api.url, {"image": "rooted", "profile": "small"}, user="ann", server="later"))
    assert [c["metadata"]["uid"] for c in api.store.items("persistentvolumeclaims", None)] == [claim["metadata"]["uid"]]
