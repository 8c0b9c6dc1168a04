"""Drills for Incident 5: High Memory Usage / OOMKilled, each shaped as the incident looks on a real cluster."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sandbox.drills import Drill, node_ids

if TYPE_CHECKING:
    from sandbox.faults import Faults

__all__ = ["DRILLS"]

_checks = node_ids("test_memory.py")




def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _restarted(faults: "Faults", pod_name: str, *, reason: str, exit_code: int, restarts: int,
               finished: datetime, waiting: dict | None = None) -> dict:
    """Patch the app container's status as the kubelet reports a restart (``lastState.terminated``);
    with ``waiting``, the container is in back-off instead of running again."""
    pod = faults.kube_get("Pod", pod_name)
    status = copy.deepcopy(pod["status"])
    container = status["containerStatuses"][0]
    started = datetime.fromisoformat(container["state"]["running"]["startedAt"].replace("Z", "+00:00"))
    container["lastState"] = {"terminated": {
        "exitCode": exit_code, "reason": reason, "startedAt": _ts(max(started, finished - timedelta(minutes=9))),
        "finishedAt": _ts(finished), "containerID": container["containerID"]}}
    container["restartCount"] = restarts
    container["containerID"] = container["containerID"][:-8] + "5ca1ab1e"
    if waiting is not None:
        container.update(state={"waiting": waiting}, ready=False, started=False)
        container.pop("containerID")
        for condition in status["conditions"]:
            if condition["type"] in ("Ready", "ContainersReady"):
                condition.update(status="False", reason="ContainersNotReady",
                                 message="containers with unready status: [app]", lastTransitionTime=_ts(finished))
    else:
        container["state"] = {"running": {"startedAt": _ts(finished + timedelta(seconds=1))}}
    faults.kube_patch("Pod", pod_name, {"status": status}, subresource="status")
    return pod


def _oom_killed(faults: "Faults") -> None:
    """The first pod's app container hit its 1Gi limit 4 minutes ago and was restarted; the node's
    node-problem-detector reported the kernel's OOM kill (an event on the Node, in default)."""
    from sandbox.cluster import legacy_event

    now = datetime.now(timezone.utc)
    pod = _restarted(faults, faults.app_pods[0], reason="OOMKilled", exit_code=137, restarts=1,
                     finished=now - timedelta(minutes=4))
    node = faults.kube_get("Node", pod["spec"]["nodeName"], namespace="")
    faults.kube_apply(legacy_event(
        involved=node, reason="OOMKilling", event_type="Warning", component="kernel-monitor", host=node["metadata"]["name"],
        when=now - timedelta(minutes=4),
        message="Memory cgroup out of memory: Killed process 28417 (python) total-vm:1837592kB, anon-rss:1047552kB, "
                "file-rss:11304kB, shmem-rss:0kB, UID:1000 pgtables:2296kB oom_score_adj:985"))
    faults.pod_usage(pod["metadata"]["name"], memory="101324Ki")  # the new container starts small


def _near_limit(faults: "Faults") -> None:
    """Every app container's working set at 96% of its 1Gi limit."""
    for index, pod in enumerate(faults.app_pods):
        faults.pod_usage(pod, memory=f"{1_006_632 + 412 * index}Ki")


def _no_limits(faults: "Faults") -> None:
    """A rollout added a log-shipper sidecar (a native sidecar: an init container that keeps running)
    with a CPU request and no limits at all."""
    for pod_name in faults.app_pods:
        pod = faults.kube_get("Pod", pod_name)
        started = pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
        pod["spec"]["initContainers"] = [{
            "name": "log-shipper", "image": "fluent/fluent-bit:3.2.2", "restartPolicy": "Always",
            "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File", "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}]
        pod["status"]["initContainerStatuses"] = [{
            "name": "log-shipper", "image": "fluent/fluent-bit:3.2.2", "ready": True, "started": True,
            "imageID": "docker.io/fluent/fluent-bit@sha256:" + "4e" * 32, "restartCount": 0, "lastState": {},
            "containerID": "containerd://" + "5d" * 32, "state": {"running": {"startedAt": started}}}]
        faults.kube_apply(pod)


def _crash_loop(faults: "Faults") -> None:
    """The second pod's app container keeps exiting with an error: CrashLoopBackOff, 5 restarts."""
    now = datetime.now(timezone.utc)
    pod = faults.kube_get("Pod", faults.app_pods[1])
    name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
    _restarted(faults, name, reason="Error", exit_code=1, restarts=5, finished=now - timedelta(seconds=50),
               waiting={"reason": "CrashLoopBackOff",
                        "message": f"back-off 2m40s restarting failed container=app pod={name}_production({uid})"})


DRILLS = [
    Drill("memory-oomkilled", "memory", "an app container was OOMKilled at its 1Gi limit and restarted",
          _oom_killed, fails=_checks("test_no_container_was_oom_killed_recently",
                                     "test_nodes_running_the_pods_report_no_oom_kills"),
          remediations=frozenset({"memory.find-leaks", "memory.scale-out"})),
    Drill("memory-near-limit", "memory", "every app container's working set at 96% of its memory limit",
          _near_limit, fails=_checks("test_container_memory_is_within_its_limit"),
          remediations=frozenset({"memory.raise-limits"})),
    Drill("memory-no-limits", "memory", "a log-shipper sidecar was rolled out without memory limits",
          _no_limits, fails=_checks("test_every_container_has_a_memory_limit_no_lower_than_its_requests"),
          remediations=frozenset({"memory.raise-limits"})),
    Drill("memory-crashloop", "memory", "an app container keeps exiting with an error (CrashLoopBackOff)",
          _crash_loop, fails=_checks("test_no_container_is_crash_looping_or_restarting_often"),
          remediations=frozenset({"memory.restart-pods"})),
]
