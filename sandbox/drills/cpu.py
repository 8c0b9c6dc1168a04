"""Drills for Incident 1: High CPU Usage, each shaped as the incident looks on a real cluster."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sandbox.drills import Drill, node_ids

if TYPE_CHECKING:
    from sandbox.faults import Faults

__all__ = ["DRILLS"]

_checks = node_ids("test_cpu.py")
_HPA = ("HorizontalPodAutoscaler", "app-backend")
_V2 = "autoscaling/v2"




def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _saturated(faults: "Faults") -> None:
    """Every app container near its 1-core limit, and the app answers late. The HPA has not reacted
    yet: it syncs every 15 s, and the spike began since."""
    for index, pod in enumerate(faults.app_pods):
        faults.pod_usage(pod, cpu=f"{951_304_117 + 7_113_921 * index}n")
    faults.app_delay(0.6)


def _hpa_maxed(faults: "Faults") -> None:
    """Ten pods at 96% of their request (a quarter of their limit), the HPA at maxReplicas 10 and
    wanting more: ScalingLimited True TooManyReplicas."""
    faults.scale(10)
    for index, pod in enumerate(faults.app_pods):
        faults.pod_usage(pod, cpu=f"{238_512_004 + 1_031_777 * index}n")
    faults.kube_patch(*_HPA, api_version=_V2, patch={"spec": {"maxReplicas": 10}})
    faults.kube_patch(*_HPA, api_version=_V2, subresource="status", patch={"status": {
        "currentReplicas": 10, "desiredReplicas": 10, "lastScaleTime": _now(),
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": 96, "averageValue": "240m"}}}],
        "conditions": [
            {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
             "message": "recommended size matches current size", "lastTransitionTime": _now()},
            {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
             "message": "the HPA was able to successfully calculate a replica count from cpu resource "
                        "utilization (percentage of request)", "lastTransitionTime": _now()},
            {"type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas",
             "message": "the desired replica count is more than the maximum replica count",
             "lastTransitionTime": _now()}]}})


def _hpa_blind(faults: "Faults") -> None:
    """The HPA cannot read the pods' CPU from the resource metrics API: ScalingActive False."""
    hpa = faults.kube_get(*_HPA, api_version=_V2)
    conditions = [c for c in hpa["status"]["conditions"] if c["type"] not in ("AbleToScale", "ScalingActive")]
    faults.kube_patch(*_HPA, api_version=_V2, subresource="status", patch={"status": {
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {}}}],
        "conditions": [
            {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale",
             "message": "the HPA controller was able to get the target's current scale", "lastTransitionTime": _now()},
            {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
             "message": "the HPA was unable to compute the replica count: failed to get cpu utilization: "
                        "unable to get metrics for resource cpu: no metrics returned from resource metrics API",
             "lastTransitionTime": _now()}, *conditions]}})


def _warning_events(faults: "Faults") -> None:
    """Readiness probes time out on every pod (the kubelet merges them: count 6 each)."""
    from sandbox.cluster import legacy_event

    now = datetime.now(timezone.utc)
    for pod_name in faults.app_pods:
        pod = faults.kube_get("Pod", pod_name)
        faults.kube_apply(legacy_event(
            involved=pod, reason="Unhealthy", event_type="Warning", component="kubelet", host=pod["spec"]["nodeName"],
            field_path="spec.containers{app}", count=6, first=now - timedelta(minutes=12), when=now - timedelta(seconds=40),
            message=f'Readiness probe failed: Get "http://{pod["status"]["podIP"]}:8000/health/ready": context deadline '
                    "exceeded (Client.Timeout exceeded while awaiting headers)"))


def _node_pressure(faults: "Faults") -> None:
    """The node running the first app pod is at 97% of its allocatable CPU (other tenants' pods)."""
    node = faults.kube_get("Pod", faults.app_pods[0])["spec"]["nodeName"]
    faults.node_usage(node, cpu="3810442117n")


DRILLS = [
    Drill("cpu-saturated", "cpu", "every app pod near its 1-core CPU limit, the API slow",
          _saturated, fails=_checks("test_container_cpu_usage_is_within_its_limit", "test_api_latency_is_within_budget"),
          remediations=frozenset({"cpu.scale-out"})),
    Drill("cpu-hpa-maxed", "cpu", "the HPA is pinned at maxReplicas 10 and wants more (TooManyReplicas)",
          _hpa_maxed, fails=_checks("test_hpa_is_not_pinned_at_max_replicas"),
          remediations=frozenset({"cpu.scale-out"})),
    Drill("cpu-hpa-blind", "cpu", "the HPA gets no CPU metrics (ScalingActive False FailedGetResourceMetric)",
          _hpa_blind, fails=_checks("test_hpa_is_able_to_scale_and_sees_its_metrics"),
          remediations=frozenset({"cpu.scale-out"})),
    Drill("cpu-warning-events", "cpu", "readiness probes time out on every pod (Warning Unhealthy x18)",
          _warning_events, fails=_checks("test_pods_have_no_burst_of_warning_events"),
          remediations=frozenset({"cpu.inspect-pod-logs"})),
    Drill("cpu-node-pressure", "cpu", "a node running the app is at 97% of its allocatable CPU",
          _node_pressure, fails=_checks("test_nodes_running_the_pods_have_cpu_headroom"),
          remediations=frozenset({"cpu.relieve-node"})),
]
