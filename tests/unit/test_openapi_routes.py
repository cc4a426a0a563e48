"""The OpenAPI document and the service's routes agree, and the document is valid OpenAPI 3.1.

A document path maps to a route by turning each ``{param}`` into the routes'
group ``([^/]+)``: ``/workspaces/{owner}/{name}`` is ``workspaces/([^/]+)/([^/]+)``.
A handler serves a method when its class (or one of the service's own base
classes) defines it; tornado's default, which answers 405, does not count.
"""

from __future__ import annotations

import inspect
import json
import re

import openapi_spec_validator as validator
import pytest
from tornado import web

from workspaces.api.app import OPENAPI, ROUTES

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
GROUP = "([^/]+)"

DOCUMENT = json.loads(OPENAPI.read_text())
OPERATIONS = [
    (method.upper(), template)
    for template, item in DOCUMENT["paths"].items()
    for method in item
    if method in METHODS
]
ROUTE_HANDLERS = dict(ROUTES)


def pattern_of(template: str) -> str:
    """The route pattern of a document path: each ``{param}`` becomes one regex group."""
    return re.sub(r"\{[^}/]+\}", lambda _: GROUP, template.lstrip("/"))


def served_methods(handler: type[web.RequestHandler]) -> set[str]:
    """The methods the handler class answers with code of the service's own."""
    return {
        m.upper()
        for m in METHODS
        if getattr(handler, m, None) is not None and getattr(handler, m) is not getattr(web.RequestHandler, m)
    }


SERVED = [(method, pattern) for pattern, handler in ROUTES for method in sorted(served_methods(handler))]
DOCUMENTED = {(method, pattern_of(template)) for method, template in OPERATIONS}

# Methods a handler inherits from its base class without a route in the document. Tornado calls
# them with the route's groups as extra arguments, so they raise TypeError: a 500 for any caller.
def served_params() -> list:
    params = []
    for method, pattern in SERVED:
        params.append(pytest.param(method, pattern, id=f"{method} {pattern}"))
    return params


@pytest.mark.parametrize("method, template", OPERATIONS, ids=[f"{m} {t}" for m, t in OPERATIONS])
def test_every_documented_operation_has_a_route(method: str, template: str) -> None:
    assert pattern_of(template) in ROUTE_HANDLERS, f"no route for {template} (looked for {pattern_of(template)!r})"


@pytest.mark.parametrize("method, template", OPERATIONS, ids=[f"{m} {t}" for m, t in OPERATIONS])
def test_every_documented_operation_has_a_handler_method(method: str, template: str) -> None:
    handler = ROUTE_HANDLERS.get(pattern_of(template))
    assert handler is not None, f"no route for {template}"
    assert method in served_methods(handler), f"{handler.__name__} has no {method.lower()}()"


@pytest.mark.parametrize("method, template", OPERATIONS, ids=[f"{m} {t}" for m, t in OPERATIONS])
def test_every_handler_method_takes_one_argument_per_path_parameter(method: str, template: str) -> None:
    handler = ROUTE_HANDLERS.get(pattern_of(template))
    assert handler is not None, f"no route for {template}"
    documented = re.findall(r"\{([^}/]+)\}", template)
    declared = [
        p["name"]
        for p in DOCUMENT["paths"][template].get("parameters", [])
        + DOCUMENT["paths"][template][method.lower()].get("parameters", [])
        if p.get("in") == "path"
    ]
    assert sorted(declared) == sorted(documented), f"{template}: path parameters declared {declared}"
    assert re.compile(pattern_of(template)).groups == len(documented)
    signature = inspect.signature(getattr(handler, method.lower()))
    positional = [p for p in signature.parameters.values() if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]
    assert len(positional) == len(documented), f"{handler.__name__}.{method.lower()}{signature} for {template}"


@pytest.mark.parametrize("pattern", [p for p, _ in ROUTES])
def test_every_route_is_documented(pattern: str) -> None:
    assert pattern in {p for _, p in DOCUMENTED}, f"route {pattern!r} has no path in openapi.json"


@pytest.mark.parametrize("method, pattern", served_params())
def test_every_handler_method_is_documented(method: str, pattern: str) -> None:
    assert (method, pattern) in DOCUMENTED, f"{ROUTE_HANDLERS[pattern].__name__} serves {method} {pattern!r}, undocumented"


def test_every_operation_has_a_unique_operation_id() -> None:
    ids = [DOCUMENT["paths"][t][m.lower()].get("operationId") for m, t in OPERATIONS]
    assert None not in ids and len(ids) == len(set(ids)), ids


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1.")
    validator.validate(DOCUMENT, cls=validator.OpenAPIV31SpecValidator)
