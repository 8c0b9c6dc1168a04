"""Emergency Procedures: Complete System Outage.

Immediate actions and investigation: verify the outage at the health endpoints, check the cluster
(nodes, pods), the ingress and its controller, the database (Redis PING is test_oauth.py::test_revocation_store_answers_ping,
marked outage too). Each check is one thing that
must hold for the app to serve; when one of them explains another (PostgreSQL down explains
``/health/ready`` failing), the explained check says so and names that root cause's remediation.
"""

import pytest

pytestmark = [pytest.mark.outage]


@pytest.mark.remediation("outage.restore-nodes")
@pytest.mark.runbook("outage/immediate-4", "outage/investigation-1")
def test_every_node_is_ready_without_pressure(nodes, observed):
    """Every node is Ready, its kubelet posting status, with no memory, disk or PID pressure.

    Runbook, Complete System Outage, investigation: kubectl get nodes.
    """
    assert nodes, "the cluster lists no nodes at all (kubectl get nodes)"
    problems = [n for n in nodes if n.problem()]
    if problems:
        observed(node_name=problems[0].name)
    assert not problems, (
        f"{len(problems)} of {len(nodes)} nodes cannot run pods: " + "; ".join(n.problem() for n in problems))


@pytest.mark.remediation("outage.rollback")
@pytest.mark.runbook("outage/immediate-4", "outage/investigation-1")
def test_no_pod_is_outside_running_or_succeeded(env, unhealthy_pods, watched_namespaces):
    """No pod of the watched namespaces is outside Running/Succeeded or stuck waiting to start.

    Runbook, Complete System Outage, investigation: kubectl get pods -A --field-selector=status.phase!=Running.
    """
    assert not unhealthy_pods, (
        f"{len(unhealthy_pods)} pods in {', '.join(watched_namespaces)} are not serving: "
        + "; ".join(str(p) for p in unhealthy_pods[:10])
        + (f"; and {len(unhealthy_pods) - 10} more" if len(unhealthy_pods) > 10 else "")
        + f" (namespaces from {env.cite('outage.namespaces')}, empty: the app's and the ingress controller's)")


@pytest.mark.remediation("outage.restore-replicas")
@pytest.mark.runbook("outage/immediate-4", "outage/investigation-1")
def test_app_deployment_has_its_pods_available(app_deployment, hpa_or_none, observed):
    """The app's deployment wants pods and has them available: not scaled to zero, not below its
    minimum availability.

    Runbook, Complete System Outage, immediate action 4 and investigation: kubectl get pods (a
    deployment at zero replicas lists no pod at all, so no pod shows as failing).
    """
    d = app_deployment
    assert d.exists, f"deployment {d.namespace}/{d.name} does not exist (kubernetes.deployment)"
    observed(replicas=max(hpa_or_none.min_replicas if hpa_or_none else 0, d.desired, 1))
    assert d.desired > 0, (
        f"deployment {d.namespace}/{d.name} is scaled to 0 replicas: no pod serves"
        + (f"; its HPA {hpa_or_none.name} (minReplicas {hpa_or_none.min_replicas}) does not scale a target "
           "at zero" if hpa_or_none else ""))
    assert d.is_available, (f"deployment {d.namespace}/{d.name}: {d.available} of {d.desired} replicas "
                            f"available, Available={d.condition}")


@pytest.mark.remediation("outage.restore-ingress")
@pytest.mark.runbook("outage/investigation-2")
def test_app_ingress_has_a_load_balancer_address(ingress):
    """The app's ingress exists and has a load-balancer address (an ip or a hostname).

    Runbook, Complete System Outage, investigation: kubectl get ingress -n production.
    """
    assert ingress.exists, f"ingress {ingress.namespace}/{ingress.name} does not exist (outage.ingress_name)"
    assert ingress.addresses, (
        f"ingress {ingress.namespace}/{ingress.name} has no load-balancer address "
        "(status.loadBalancer.ingress is empty): no traffic reaches the app")


@pytest.mark.remediation("outage.restore-ingress")
@pytest.mark.runbook("outage/investigation-2")
def test_ingress_controller_is_available(ingress_controller):
    """The ingress controller's deployment exists and has available replicas.

    Runbook, Complete System Outage, investigation: kubectl logs -n ingress-nginx deployment/ingress-nginx-controller.
    """
    c = ingress_controller
    assert c.exists, (f"deployment {c.namespace}/{c.name} does not exist "
                      "(outage.ingress_controller_namespace, outage.ingress_controller_deployment)")
    assert c.desired > 0, (f"ingress controller {c.namespace}/{c.name} is scaled to 0 replicas: nothing routes "
                           "traffic to the app")
    assert c.is_available, (f"ingress controller {c.namespace}/{c.name}: {c.available} of {c.desired} replicas "
                            f"available, Available={c.condition}")


@pytest.mark.remediation("outage.restore-postgres")
@pytest.mark.runbook("outage/investigation-3")
def test_postgres_answers_select_1(postgres_select_one):
    """PostgreSQL answers SELECT 1.

    Runbook, Complete System Outage, investigation: psql -U postgres -c "SELECT 1;".
    """
    pg = postgres_select_one
    assert pg.problem is None, f"PostgreSQL {pg.server} did not answer SELECT 1: {pg.problem}"


def _within_budget(env, answer, what: str) -> None:
    budget = env.outage.health_budget_ms
    assert answer.status == 200, f"{what} {answer.url} {answer.describe()}; expected 200"
    assert answer.elapsed_ms <= budget, (f"{what} {answer.url} answered 200 in {answer.elapsed_ms:.0f} ms, "
                                         f"above {env.cite('outage.health_budget_ms')}")


@pytest.mark.deploy
@pytest.mark.remediation("deploy.verify-health")
@pytest.mark.runbook("outage/immediate-1", "deploy/step-5", "rollback/step-3")
def test_health_live_answers_200_within_budget(env, health_live):
    """/health/live answers 200 within outage.health_budget_ms.

    Runbook, Complete System Outage, immediate action 1 (verify outage: check health endpoints);
    Deployment Procedures step 5 and Rollback Procedures step 3: curl .../health/live.
    """
    _within_budget(env, health_live, "liveness endpoint")


@pytest.mark.deploy
@pytest.mark.remediation("deploy.verify-health")
@pytest.mark.runbook("outage/immediate-1", "deploy/step-5")
def test_health_ready_answers_200_within_budget(env, readiness):
    """/health/ready answers 200 within outage.health_budget_ms.

    Runbook, Complete System Outage, immediate action 1 (check health endpoints). A readiness
    failure that PostgreSQL or Redis not answering explains is reported under that root cause.
    """
    _within_budget(env, readiness, "readiness endpoint")
