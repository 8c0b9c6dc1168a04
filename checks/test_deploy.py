"""Deployment Procedures: the post-deploy gate CI runs after every deploy.

Steps 4-6 of the Standard Deployment: monitor the rollout (``kubectl rollout status``), verify
health, run the smoke tests; and the version the app serves is the image that was deployed. The
health checks live in test_outage.py (they carry both markers). A failure suggests rolling back:
``helm rollback`` when Helm manages the release, ``kubectl rollout undo`` otherwise.
"""

import pytest

from fixtures.deploy import new_pods_not_ready, same_version

pytestmark = [pytest.mark.deploy]


@pytest.mark.remediation("deploy.finish-rollout")
@pytest.mark.runbook("deploy/step-4", "rollback/step-2")
def test_rollout_completes_within_the_settle_window(env, kube, settled_rollout, request, observed):
    """The deployment's rollout completes as kubectl rollout status decides it, within deploy.settle_seconds.

    Runbook, Deployment Procedures step 4: kubectl rollout status deployment/app-backend -n production.
    """
    last = settled_rollout.last
    if settled_rollout.done:
        return
    waiting = new_pods_not_ready(env, kube, request.getfixturevalue("revision_history"))
    if waiting:
        observed(pod_name=waiting[0].split()[1])
    gave_up = ("at once: a progress deadline no wait can change" if last.deadline_exceeded
               else f"after {settled_rollout.elapsed_s:.0f} s ({env.cite('deploy.settle_seconds')})")
    assert settled_rollout.done, (
        f"rollout of deployment {last.name} (revision {last.revision}, {', '.join(last.images)}) did not complete: "
        f"{last.message} {gave_up}; Progressing: {last.progressing}"
        + (f"; new pods not Ready: {'; '.join(waiting[:5])}" if waiting else ""))


@pytest.mark.remediation("deploy.match-version")
@pytest.mark.runbook("deploy/step-4")
def test_app_serves_the_version_of_the_deployed_image(deployed_image, served_version, observed):
    """The version the app serves equals the image tag the deployment runs.

    Runbook, Deployment Procedures step 4: the rollout is done when users get the new version.
    """
    observed(expected_version=deployed_image.tag)
    assert served_version.version is not None, served_version.problem
    assert same_version(served_version.version, deployed_image.tag), (
        f"the app serves version {served_version.version} ({served_version.source}), but deployment "
        f"{deployed_image.deployment} runs {deployed_image.image} (tag {deployed_image.tag})")


@pytest.mark.remediation("deploy.run-smoke-tests")
@pytest.mark.runbook("deploy/step-6")
def test_smoke_flow_gets_a_token_and_calls_an_authenticated_endpoint(env, smoke_flow):
    """The smoke flow passes: a client-credentials token, then an authenticated call answering 200
    (and, with deploy.smoke_writes, the revoked token refused with 401).

    Runbook, Deployment Procedures step 6: python scripts/smoke_tests.py --env=production.
    """
    assert smoke_flow.failed is None, (
        f"smoke flow failed at {smoke_flow.failed} (steps: {' -> '.join(s.split(':')[0] for s in smoke_flow.steps)})")
