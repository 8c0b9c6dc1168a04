"""Drills for the post-deploy gate (Deployment Procedures)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.drills import Drill, node_ids

if TYPE_CHECKING:
    from sandbox.faults import Faults

_deploy = node_ids("test_deploy.py")
_outage = node_ids("test_outage.py")

__all__ = ["DRILLS", "MISSING_IMAGE"]

#: A tag the sandbox's registry does not hold: its pods wait in ImagePullBackOff.
MISSING_IMAGE = "ghcr.io/ytvideocreator/app-backend:1.43.1"


def _rollout_stuck(faults: "Faults") -> None:
    faults.set_image(MISSING_IMAGE)


def _health_failing(faults: "Faults") -> None:
    faults.health("live")


def _version_mismatch(faults: "Faults") -> None:
    faults.serve_version("1.41.3")


def _smoke_failing(faults: "Faults") -> None:
    faults.api("5xx")


DRILLS = [
    Drill("deploy-rollout-stuck", "deploy",
          f"a new image ({MISSING_IMAGE.rpartition(':')[2]}) cannot be pulled: the rollout stalls in ImagePullBackOff",
          _rollout_stuck, fails=_deploy("test_rollout_completes_within_the_settle_window"),
          errors=_deploy("test_app_serves_the_version_of_the_deployed_image"),
          remediations=frozenset({"deploy.finish-rollout", "rollback.undo"})),
    Drill("deploy-health-failing", "deploy", "after the deploy the health endpoints answer 503",
          _health_failing, fails=_outage("test_health_live_answers_200_within_budget", "test_health_ready_answers_200_within_budget"),
          remediations=frozenset({"deploy.verify-health"})),
    Drill("deploy-version-mismatch", "deploy", "the app serves another version than the deployed image",
          _version_mismatch, fails=_deploy("test_app_serves_the_version_of_the_deployed_image"),
          remediations=frozenset({"deploy.match-version"})),
    Drill("deploy-smoke-failing", "deploy", "the authenticated API answers 500 after the deploy",
          _smoke_failing,
          fails=_deploy("test_smoke_flow_gets_a_token_and_calls_an_authenticated_endpoint"),
          remediations=frozenset({"deploy.run-smoke-tests"})),
]
