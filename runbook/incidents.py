"""The runbook's incidents, listed once: the marker of each (the word its remediation ids, drills and
fixtures modules use too), the runbook section it stands for, and the prefix of its step ids.

The runbook plugin registers the markers from this list (:func:`register_markers`); the catalog, the
step ids, the ``--runbook-steps`` listing and the sandbox's drills all read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INCIDENTS", "Incident", "by_marker", "register_markers"]


@dataclass(frozen=True)
class Incident:
    marker: str  # "db_pool": the marker, the catalog file and id prefix, the drill and fixture modules
    section: str  # the runbook's heading: "Incident 2: Database Connection Pool Exhausted"
    steps: str  # the prefix of its step ids: "incident-2" in "incident-2/investigation-1"
    establishes: str  # what its checks establish, for `pytest --markers`

    @property
    def marker_line(self) -> str:
        return f"{self.marker}: {self.section}: {self.establishes}"


_ALL = (
    Incident("cpu", "Incident 1: High CPU Usage", "incident-1",
             "pod CPU vs limits, HPA headroom, warning events, API latency, long-running queries"),
    Incident("db_pool", "Incident 2: Database Connection Pool Exhausted", "incident-2",
             "PostgreSQL connection headroom, idle and idle-in-transaction sessions, pool size x replicas"),
    Incident("oauth", "Incident 3: OAuth Token Validation Failing", "incident-3",
             "JWKS endpoint and keys, jwt-keys secret matches the JWKS, sign-and-verify round trip, "
             "revocation store, token errors in pod logs"),
    Incident("s3", "Incident 4: S3 Upload Failures", "incident-4",
             "bucket policy, IAM role policy, service account role binding, KMS key, canary upload round trip"),
    Incident("memory", "Incident 5: High Memory Usage / OOMKilled", "incident-5",
             "OOMKilled containers, memory vs limits, limits set, CrashLoopBackOff"),
    Incident("outage", "Complete System Outage", "outage",
             "nodes Ready, pods Running, the app's deployment not at zero and available, ingress and its "
             "controller, PostgreSQL SELECT 1, Redis PING, health endpoints"),
    Incident("breach", "Data Breach Detected", "breach",
             "no private key material published, bucket not public, encryption at rest, revocation list works"),
    Incident("deploy", "Deployment Procedures", "deploy",
             "rollout complete, health endpoints, serving version matches the deployed image, smoke flows"),
    Incident("rollback", "Rollback Procedures", "rollback",
             "a previous healthy revision exists to roll back to"),
)

#: The nine markers, in runbook order (the tie-breaker after a remediation's priority).
INCIDENTS: tuple[str, ...] = tuple(incident.marker for incident in _ALL)


def by_marker() -> dict[str, Incident]:
    """Every incident by its marker, in runbook order."""
    return {incident.marker: incident for incident in _ALL}


def register_markers(config) -> None:
    """Register the nine incident markers on a ``pytest.Config`` (``--strict-markers`` knows them)."""
    for incident in _ALL:
        config.addinivalue_line("markers", incident.marker_line)
