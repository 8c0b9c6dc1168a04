"""Drills for the emergency procedure Data Breach Detected."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.drills import Drill

if TYPE_CHECKING:
    from sandbox.faults import Faults

__all__ = ["DRILLS"]


def _jwks_leaks_private_members(faults: "Faults") -> None:
    faults.jwks("private-members")


DRILLS = [
    Drill("breach-jwks-private-key", "breach",
          "the JWKS endpoint publishes the private key members (d, p, q, ...)",
          _jwks_leaks_private_members,
          fails=frozenset({"test_oauth.py::test_jwks_publishes_no_private_key_material"}),
          remediations=frozenset({"breach.rotate-signing-keys"})),
]
