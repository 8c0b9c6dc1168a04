"""Drills for rollback readiness (Rollback Procedures)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.drills import Drill, node_ids

if TYPE_CHECKING:
    from sandbox.faults import Faults

__all__ = ["DRILLS"]

_checks = node_ids("test_rollback.py")


def _no_history(faults: "Faults") -> None:
    """revisionHistoryLimit 0 (the controller pruned the old ReplicaSets) and Helm --history-max 1."""
    deployment = faults.kube_get("Deployment", "app-backend", api_version="apps/v1")
    deployment["spec"]["revisionHistoryLimit"] = 0
    faults.kube_apply(deployment)
    current = (deployment["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision")
    for rs in faults.kube_list("ReplicaSet", api_version="apps/v1"):
        if (rs["metadata"]["annotations"].get("deployment.kubernetes.io/revision") != current
                and rs["metadata"]["name"].startswith("app-backend-")):
            faults.kube_delete("ReplicaSet", rs["metadata"]["name"], api_version="apps/v1")
    for secret in faults.kube_list("Secret"):
        labels = secret["metadata"].get("labels") or {}
        if labels.get("owner") == "helm" and labels.get("status") != "deployed":
            faults.kube_delete("Secret", secret["metadata"]["name"])


def _previous_failed(faults: "Faults") -> None:
    """The upgrade before the deployed release failed: helm rollback would restore a failed release."""
    faults.helm_status(6, "failed")


DRILLS = [
    Drill("rollback-no-history", "rollback",
          "revisionHistoryLimit 0 and Helm keeps one revision: nothing to roll back to",
          _no_history,
          fails=_checks("test_deployment_keeps_a_previous_revision_to_roll_back_to",
                        "test_helm_release_has_a_previous_revision"),
          errors=_checks("test_previous_helm_revision_was_healthy"),
          remediations=frozenset({"rollback.keep-history"})),
    Drill("rollback-previous-failed", "rollback",
          "the Helm revision before the deployed one failed: helm rollback would restore it",
          _previous_failed, fails=_checks("test_previous_helm_revision_was_healthy"),
          remediations=frozenset({"rollback.to-healthy-revision"})),
]
