"""Gauges for a Prometheus Pushgateway, from one run's results (``--pushgateway URL``).

One group per environment, ``job="runbook-checks", environment=<env>``, replaced by every run (PUT),
so a check removed from the suite disappears from it. Per check and incident (labels incident, check; a check of two incidents is in both):
``runbook_check_passed`` (1 passed, 0 failed or not verified), ``runbook_check_failed`` (1 only
for FAILED, unhealthy), ``runbook_check_duration_seconds`` and
``runbook_check_last_success_timestamp_seconds``; the same per incident; per run
``runbook_run_timestamp_seconds``, ``runbook_run_interrupted`` and ``runbook_run_checks{outcome}``.
A last success survives failing runs: the previous value is read back from the gateway first.
Skipped checks are left out (not configured is neither healthy nor unhealthy).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx

from core.errors import one_line

__all__ = ["JOB", "push"]

JOB = "runbook-checks"
_MAX_METRICS_BYTES = 8 * 1024 * 1024
_LAST_CHECK = "runbook_check_last_success_timestamp_seconds"
_LAST_INCIDENT = "runbook_incident_last_success_timestamp_seconds"


def push(url: str, environment: str, results: Sequence, *, timeout: float, interrupted: bool) -> str | None:
    """Push the gauges; None on success, else one sentence saying what went wrong."""
    from prometheus_client import CollectorRegistry, Gauge
    from prometheus_client.exposition import push_to_gateway

    url = url.rstrip("/")
    now = time.time()
    try:
        previous = _previous_last_success(url, environment, timeout)
    except (httpx.HTTPError, ValueError) as exc:
        return f"could not read {url}/metrics: {one_line(exc)}; nothing pushed"
    registry = CollectorRegistry()
    checks = [r for r in results if r.outcome not in ("skipped",)]
    per_check = ["incident", "check"]
    passed = Gauge("runbook_check_passed", "1 if the runbook check passed, 0 if it failed or could "
                   "not be verified", per_check, registry=registry)
    failed = Gauge("runbook_check_failed", "1 if the runbook check FAILED (unhealthy)", per_check,
                   registry=registry)
    duration = Gauge("runbook_check_duration_seconds", "time the check took", per_check, registry=registry)
    last = Gauge(_LAST_CHECK, "when the check last passed (Unix time)", per_check, registry=registry)
    incidents: dict[str, list] = {}
    for result in checks:
        for incident in result.incident.split(","):  # a check of two incidents is in both
            incidents.setdefault(incident, []).append(result)
            labels = (incident, result.check)
            passed.labels(*labels).set(1 if result.outcome == "passed" else 0)
            failed.labels(*labels).set(1 if result.outcome == "failed" else 0)
            duration.labels(*labels).set(result.duration)
            when = now if result.outcome == "passed" else previous.get((_LAST_CHECK, labels))
            if when is not None:
                last.labels(*labels).set(when)
    i_passed = Gauge("runbook_incident_passed", "1 if every check of the incident passed",
                     ["incident"], registry=registry)
    i_failed = Gauge("runbook_incident_checks_failed", "how many checks of the incident FAILED",
                     ["incident"], registry=registry)
    i_duration = Gauge("runbook_incident_duration_seconds", "time the incident's checks took",
                       ["incident"], registry=registry)
    i_last = Gauge(_LAST_INCIDENT, "when every check of the incident last passed (Unix time)",
                   ["incident"], registry=registry)
    for incident, members in incidents.items():
        healthy = all(r.outcome == "passed" for r in members)
        i_passed.labels(incident).set(1 if healthy else 0)
        i_failed.labels(incident).set(sum(r.outcome == "failed" for r in members))
        i_duration.labels(incident).set(sum(r.duration for r in members))
        when = now if healthy else previous.get((_LAST_INCIDENT, (incident,)))
        if when is not None:
            i_last.labels(incident).set(when)
    Gauge("runbook_run_timestamp_seconds", "when the run finished (Unix time)",
          registry=registry).set(now)
    Gauge("runbook_run_interrupted", "1 if the run was stopped by SIGTERM", registry=registry).set(
        1 if interrupted else 0)
    outcomes = Gauge("runbook_run_checks", "checks of the run by outcome", ["outcome"], registry=registry)
    for outcome in ("passed", "failed", "error", "skipped", "interrupted"):
        outcomes.labels(outcome).set(sum(r.outcome == outcome for r in results))
    try:
        push_to_gateway(url, job=JOB, registry=registry, grouping_key={"environment": environment},
                        timeout=timeout)
    except OSError as exc:  # urllib's URLError and HTTPError are OSErrors
        return f"could not push to {url}: {one_line(exc)}"
    return None


def _previous_last_success(url: str, environment: str, timeout: float) -> dict[tuple, float]:
    """The last-success gauges this environment's group holds now, by (name, label values)."""
    from prometheus_client.parser import text_string_to_metric_families

    body = bytearray()
    with httpx.stream("GET", f"{url}/metrics", timeout=timeout, follow_redirects=False) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > _MAX_METRICS_BYTES:
                raise ValueError(f"more than {_MAX_METRICS_BYTES} bytes of metrics")
    found: dict[tuple, float] = {}
    for family in text_string_to_metric_families(body.decode("utf-8", "replace")):
        if family.name not in (_LAST_CHECK, _LAST_INCIDENT):
            continue
        for sample in family.samples:
            labels = sample.labels
            if labels.get("job") != JOB or labels.get("environment") != environment:
                continue
            key = (labels.get("incident", ""), labels["check"]) if family.name == _LAST_CHECK else (
                labels.get("incident", ""),)
            found[(family.name, key)] = sample.value
    return found
