"""Validation errors that say where the problem is and what is allowed.

Every validation in Workspaces (the config file, the catalog, a workspace spec)
reports a list of :class:`Issue` objects, each a dotted path such as
``profiles[2].gpu.count`` and a message. Pydantic's own errors are translated
into that form by :func:`issues_from_pydantic`.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class Issue:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class IssuesError(ValueError):
    """Base class of errors that carry a list of issues."""

    def __init__(self, issues: list[Issue], source: str | None = None):
        self.issues = list(issues)
        self.source = source
        super().__init__(self.summary())

    def lines(self) -> list[str]:
        prefix = f"{self.source}: " if self.source else ""
        return [f"{prefix}{issue}" for issue in self.issues]

    def summary(self) -> str:
        return "; ".join(self.lines())


class ConfigError(IssuesError):
    """The configuration, catalog or profiles file is invalid."""


def join_path(parts: tuple[int | str, ...] | list[int | str]) -> str:
    """('profiles', 2, 'gpu', 'count') -> 'profiles[2].gpu.count'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that validates the object found at ``loc``."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _unwrap_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap_model(annotation: Any) -> Any:
    """Find the BaseModel inside list[...], X | None and similar annotations."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _unwrap_model(arg)
            if found is not None:
                return found
    if origin is dict:
        return _unwrap_model(typing.get_args(annotation)[1])
    return None


def _message(error: Any, model: type[BaseModel]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        parent = _model_at(model, error["loc"][:-1])
        # the names the file uses: "for" and "except" are aliases of for_ and except_
        allowed = ", ".join(f.alias or name for name, f in parent.model_fields.items()) if parent else ""
        return f"unknown key; allowed keys: {allowed}" if allowed else "unknown key"
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind == "literal_error":
        return f"must be one of: {ctx['expected'].replace(' or ', ', ')}"
    if kind in ("string_too_short",) and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind in _TYPE_NAMES:
        got = type(error.get("input")).__name__
        return f"must be {_TYPE_NAMES[kind]}, not {_yaml_type(got)}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return error["msg"]


def _yaml_type(python_name: str) -> str:
    return {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "a boolean",
        "list": "a list",
        "dict": "a mapping",
        "NoneType": "null",
    }.get(python_name, python_name)


def issues_from_pydantic(
    exc: ValidationError, model: type[BaseModel], prefix: tuple[int | str, ...] = ()
) -> list[Issue]:
    """Translate pydantic's errors into path/message issues."""
    return [
        Issue(join_path(prefix + tuple(error["loc"])), _message(error, model))
        for error in exc.errors(include_url=False)
    ]
