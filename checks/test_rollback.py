"""Rollback Procedures: a rollback has somewhere healthy to go.

Step 1 rolls back with ``helm rollback app-backend -n production`` or ``kubectl rollout undo``:
both need a previous revision, and it must have been healthy. The ReplicaSet history is what
``kubectl rollout undo`` returns to; the Helm release history (its release secrets) is what
``helm rollback`` returns to, checked when ``rollback.helm_release`` says Helm manages the release.
"""

import pytest

pytestmark = [pytest.mark.rollback]


@pytest.mark.remediation("rollback.keep-history")
@pytest.mark.runbook("rollback/step-1")
def test_deployment_keeps_a_previous_revision_to_roll_back_to(revision_history):
    """The deployment keeps a previous ReplicaSet revision whose images are pinned by tag or digest.

    Runbook, Rollback Procedures step 1: kubectl rollout undo deployment/app-backend -n production.
    """
    h = revision_history
    previous = h.previous
    assert previous is not None, (
        f"deployment {h.deployment} keeps no revision before the current one ({h.current_revision}): "
        f"revisionHistoryLimit = {h.revision_history_limit}, ReplicaSets "
        f"{', '.join(f'{r.name} (revision {r.revision})' for r in h.revisions) or 'none'}; "
        "kubectl rollout undo has nothing to return to")
    unpinned = previous.unpinned_images()
    assert not unpinned, (
        f"previous revision {previous.revision} of {h.deployment} ({previous.name}) runs {', '.join(unpinned)}: "
        "without a tag or digest a rollback would not restore that version")


@pytest.mark.remediation("rollback.keep-history")
@pytest.mark.runbook("rollback/step-1")
def test_helm_release_has_a_previous_revision(helm_history):
    """The Helm release keeps a revision before the deployed one.

    Runbook, Rollback Procedures step 1: helm rollback app-backend -n production.
    """
    h = helm_history
    assert h.deployed is not None, (f"Helm release {h.namespace}/{h.release} has no deployed revision: {h.summary()}"
                                    + (f"; unreadable release secrets {list(h.unreadable)}" if h.unreadable else ""))
    assert h.previous is not None, (
        f"Helm release {h.namespace}/{h.release} keeps no revision before the deployed v{h.deployed.version}: "
        f"{h.summary()}; helm rollback has nothing to return to")


@pytest.mark.remediation("rollback.to-healthy-revision")
@pytest.mark.runbook("rollback/step-1")
def test_previous_helm_revision_was_healthy(helm_previous, observed):
    """The Helm revision a rollback returns to was healthy: superseded, not failed.

    Runbook, Rollback Procedures step 1: helm rollback restores the previous release.
    """
    h, previous = helm_previous
    if previous.status != "superseded":
        healthy = h.last_healthy
        observed(reason=f"Helm revision v{previous.version} of {h.release} is {previous.status}",
                 revision=f"v{healthy.version}" if healthy else "none (no revision was ever healthy: fix forward)")
    assert previous.status == "superseded", (
        f"helm rollback {h.release} would return to v{previous.version} (chart {previous.chart_version}), "
        f"whose status is {previous.status}, not superseded: {h.summary()}")
