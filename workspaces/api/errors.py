"""The API's one error shape: ``{"error": {"code", "message", "fields"}}``."""

from __future__ import annotations

from typing import Any

from ..errors import Issue


class ApiError(Exception):
    """An answer other than success, with a code a program can switch on."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[Issue] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = [f.to_dict() for f in self.fields]
        return {"error": error}


def invalid(message: str, *fields: Issue) -> ApiError:
    return ApiError(400, "invalid_request", message, list(fields))


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")
