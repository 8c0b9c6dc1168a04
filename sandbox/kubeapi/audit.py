"""The audit trail: one record per request, so tests can prove which verbs an identity used."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["AuditRecord"]


class AuditRecord(NamedTuple):
    """One request as the API server saw it.

    ``verb`` is the RBAC verb (get, list, watch, create, update, patch, delete, deletecollection).
    Non-resource requests (discovery, /sandbox/audit) have an empty ``resource`` and their URL path
    in ``name``; unauthenticated requests have user ``system:anonymous``.
    """

    user: str
    verb: str
    resource: str
    subresource: str
    namespace: str
    name: str
    status_code: int
