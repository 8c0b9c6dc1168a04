"""Drills for the emergency procedure Complete System Outage."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sandbox.drills import Drill, node_ids

if TYPE_CHECKING:
    from sandbox.faults import Faults

_oauth = node_ids("test_oauth.py")

__all__ = ["DRILLS"]

_checks = node_ids("test_outage.py")




def _node_not_ready(faults: "Faults") -> None:
    from sandbox.cluster import NODE_NAMES

    faults.kubelet_stopped(NODE_NAMES[1])


def _pods_failing(faults: "Faults") -> None:
    """One app pod crash-looping after an OOM, and one replica the scheduler cannot place."""
    pods = [p for p in faults.kube_list("Pod") if p["metadata"]["name"] in faults.app_pods]
    crashing = pods[0]
    status = crashing["status"]["containerStatuses"][0]
    name = crashing["metadata"]["name"]
    status.update({"ready": False, "started": False, "restartCount": 7,
                   "state": {"waiting": {"reason": "CrashLoopBackOff",
                                         "message": f"back-off 5m0s restarting failed container=app pod={name}_production"
                                                    f"({crashing['metadata']['uid']})"}},
                   "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                                "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:01:00Z"}}})
    for condition in crashing["status"]["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition.update({"status": "False", "reason": "ContainersNotReady",
                              "message": "containers with unready status: [app]"})
    faults.kube_apply(crashing)
    pending = {key: value for key, value in pods[1].items() if key != "status"}
    pending["metadata"] = {k: v for k, v in pods[1]["metadata"].items()
                           if k in ("namespace", "labels", "ownerReferences")}
    pending["metadata"]["name"] = pods[1]["metadata"]["name"][:-5] + "q7x2z"
    pending["spec"] = {k: v for k, v in pods[1]["spec"].items() if k != "nodeName"}
    pending["status"] = {"phase": "Pending", "qosClass": "Burstable", "conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "lastTransitionTime": (datetime.now(timezone.utc) - timedelta(minutes=7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "message": "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: "
                   "3 No preemption victims found for incoming pod."}]}
    faults.kube_apply(pending)


def _ingress_no_address(faults: "Faults") -> None:
    """The ingress controller's only replica fails its readiness probe: no address is published."""
    ingress = faults.kube_get("Ingress", "app-backend", api_version="networking.k8s.io/v1")
    ingress["status"] = {"loadBalancer": {}}
    faults.kube_apply(ingress)
    controller = faults.kube_get("Deployment", "ingress-nginx-controller", namespace="ingress-nginx",
                                 api_version="apps/v1")
    status = {k: v for k, v in controller["status"].items() if k not in ("readyReplicas", "availableReplicas")}
    status["unavailableReplicas"] = 1
    for condition in status["conditions"]:
        if condition["type"] == "Available":
            condition.update({"status": "False", "reason": "MinimumReplicasUnavailable",
                              "message": "Deployment does not have minimum availability."})
    controller["status"] = status
    faults.kube_apply(controller)


def _scaled_to_zero(faults: "Faults") -> None:
    """``kubectl scale deployment app-backend --replicas=0``: the deployment controller deletes every
    pod, the ingress has no endpoint left and answers 503, and the HPA stops scaling a target at zero."""
    faults.kube_patch("Deployment", "app-backend", {"spec": {"replicas": 0}}, api_version="apps/v1")


def _stop(service: str):
    def apply(faults: "Faults") -> None:
        faults.stop(service)

    return apply


DRILLS = [
    Drill("outage-node-not-ready", "outage", "a node's kubelet stopped posting status (all conditions Unknown)",
          _node_not_ready, fails=_checks("test_every_node_is_ready_without_pressure"),
          remediations=frozenset({"outage.restore-nodes"})),
    Drill("outage-pods-failing", "outage",
          "an app pod is in CrashLoopBackOff and a replica cannot be scheduled (Insufficient memory)",
          _pods_failing, fails=_checks("test_no_pod_is_outside_running_or_succeeded"),
          remediations=frozenset({"outage.rollback"})),
    Drill("outage-ingress-no-address", "outage",
          "the ingress controller is unavailable and the ingress has no load-balancer address",
          _ingress_no_address,
          fails=_checks("test_app_ingress_has_a_load_balancer_address", "test_ingress_controller_is_available"),
          remediations=frozenset({"outage.restore-ingress"})),
    Drill("outage-app-scaled-to-zero", "outage",
          "the app's deployment was scaled to 0 replicas: no pod, the ingress answers 503",
          _scaled_to_zero, fails=_checks("test_app_deployment_has_its_pods_available",
                                         "test_health_live_answers_200_within_budget",
                                         "test_health_ready_answers_200_within_budget"),
          remediations=frozenset({"outage.restore-replicas", "deploy.verify-health"})),
    Drill("outage-postgres-down", "outage", "PostgreSQL is down: the app is not ready",
          _stop("postgres"), fails=_checks("test_postgres_answers_select_1"),
          errors=_checks("test_health_ready_answers_200_within_budget"),
          remediations=frozenset({"outage.restore-postgres"})),
    Drill("outage-redis-down", "outage", "Redis is down: the app is not ready",
          _stop("redis"), fails=_oauth("test_revocation_store_answers_ping"),
          errors=_checks("test_health_ready_answers_200_within_budget"),
          remediations=frozenset({"oauth.restore-revocation-store", "outage.restore-redis"})),
]
