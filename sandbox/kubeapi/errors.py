"""API errors as the Kubernetes ``Status`` objects clients parse (reason, code, details)."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "status_body"]


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None,
                metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``Status`` object of a failed request (``metadata`` carries a fresh ``continue`` on 410)."""
    body: dict[str, Any] = {
        "kind": "Status", "apiVersion": "v1", "metadata": metadata or {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    }
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    """A request failure carrying its HTTP code and ``Status`` reason; the handler serializes it."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details
        self.metadata = metadata

    def status(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, self.details, self.metadata)

    @classmethod
    def not_found(cls, qualified: str, name: str, group: str, plural: str) -> ApiError:
        return cls(404, "NotFound", f'{qualified} "{name}" not found',
                   {"name": name, "group": group, "kind": plural})

    @classmethod
    def already_exists(cls, qualified: str, name: str, group: str, plural: str) -> ApiError:
        return cls(409, "AlreadyExists", f'{qualified} "{name}" already exists',
                   {"name": name, "group": group, "kind": plural})

    @classmethod
    def conflict(cls, qualified: str, name: str, group: str, plural: str) -> ApiError:
        return cls(409, "Conflict",
                   f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
                   "please apply your changes to the latest version and try again",
                   {"name": name, "group": group, "kind": plural})

    @classmethod
    def invalid(cls, qualified_kind: str, name: str, group: str, kind: str,
                causes: list[tuple[str, str, str]]) -> ApiError:
        """``causes`` are (reason, field, message) triples, e.g. ("FieldValueRequired", "spec.selector", ...)."""
        text = ", ".join(f"{f}: {m}" for _, f, m in causes)
        if len(causes) > 1:
            text = f"[{text}]"
        return cls(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {text}',
                   {"name": name, "group": group, "kind": kind,
                    "causes": [{"reason": r, "message": m, "field": f} for r, f, m in causes]})

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)

    @classmethod
    def method_not_allowed(cls, message: str = "the server does not allow this method on the requested resource") -> ApiError:
        return cls(405, "MethodNotAllowed", message)
