"""The part of the Deployment controller a rollout needs: a new pod template (``kubectl set image``,
``kubectl apply``, ``kubectl rollout undo``) becomes a ReplicaSet that is scaled up one surge pod at a
time while the old one is scaled down, with the Deployment's status written at every step as the
real controller writes it (``observedGeneration`` with the new counters, zero counters omitted,
Progressing ``ReplicaSetUpdated`` then ``NewReplicaSetAvailable``, messages naming the ReplicaSet).

A template equal to an old ReplicaSet's (a rollback) reuses that ReplicaSet under a new revision.
An image the sandbox's registry does not hold never pulls: the surge pod waits in
``ImagePullBackOff`` and the rollout stalls, and after ``progressDeadlineSeconds`` the Progressing
condition turns to ``ProgressDeadlineExceeded``, as on a cluster.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sandbox.cluster import template_hash
from sandbox.kubeapi.store import random_suffix as _suffix

__all__ = ["RolloutController", "REGISTRY_TAGS"]

REVISION = "deployment.kubernetes.io/revision"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
HASH_LABEL = "pod-template-hash"
#: The app's tags its registry holds; any other tag of the app's repository fails to pull.
REGISTRY_TAGS = frozenset({"1.40.2", "1.41.3", "1.42.0", "1.43.0"})


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _semantic(value: Any) -> Any:
    """A value with nulls dropped: the API reads ``creationTimestamp: null`` (which kubectl sends in
    a template) as the field left out."""
    if isinstance(value, dict):
        return {k: _semantic(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    template = _semantic(template)
    ((template.get("metadata") or {}).get("labels") or {}).pop(HASH_LABEL, None)
    return template


def _without_restart(template: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(template)
    metadata = template.get("metadata") or {}
    (metadata.get("annotations") or {}).pop(RESTARTED_AT, None)
    if "annotations" in metadata and not metadata["annotations"]:
        del metadata["annotations"]
    return template


def _counters(**values: int) -> dict[str, int]:
    """Status counters as the API serves them: zero ones omitted."""
    return {k: v for k, v in values.items() if v}


class RolloutController:
    """Rolls one Deployment's template changes out in the sandbox's store, in a background thread."""

    def __init__(self, store, *, namespace: str, deployment: str, repository: str,
                 on_serving: Callable[[str, list[str]], None], step_seconds: float = 0.25,
                 app: bool = True) -> None:
        self.store = store
        self.namespace = namespace
        self.deployment = deployment
        self.repository = repository  # the app's image repository, whose tags REGISTRY_TAGS lists
        self.on_serving = on_serving  # (image, pod names) once the pods run a new template
        self.step_seconds = step_seconds
        # The app's pods carry metrics, events and the app's labels (sandbox.cluster.scale_deployment);
        # any other deployment's new pods are made from its ReplicaSet's template.
        self.app = app
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    # --- called by the store (under its lock) for every write ---

    def template_changed(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """Whether the write starts a rollout (a restart alone is the sandbox's key reload)."""
        old_t, new_t = old["spec"]["template"], new["spec"]["template"]
        return _without_restart(old_t) != _without_restart(new_t)

    def start(self, deployment: dict[str, Any]) -> None:
        """A new template was written: pick or create its ReplicaSet, write the first status, and
        progress in the background."""
        generation = deployment["metadata"]["generation"]
        sets = self._replica_sets(deployment)
        target = _without_hash(deployment["spec"]["template"])
        current = next((rs for rs in sets if _without_hash(rs["spec"]["template"]) == target), None)
        revision = 1 + max((int((rs["metadata"].get("annotations") or {}).get(REVISION, "0")) for rs in sets), default=0)
        if current is None:
            current = self._new_replica_set(deployment, target, revision)
        else:
            current["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
            current = self.store.apply(current)
        deployment = copy.deepcopy(deployment)
        deployment["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        deployment["status"] = self._status(deployment, "ReplicaSetUpdated",
                                            f'ReplicaSet "{current["metadata"]["name"]}" is progressing.')
        self.store.apply(deployment)
        thread = threading.Thread(target=self._progress, args=(generation, current["metadata"]["name"]),
                                  name=f"rollout:{self.deployment}:{generation}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def scale(self, deployment: dict[str, Any]) -> list[str] | None:
        """``kubectl scale``: ``spec.replicas`` alone changed, and the current ReplicaSet follows.
        Surplus pods are deleted newest first (the ReplicaSet controller's order among ready pods),
        with their metrics; missing ones start with their metrics and events. The status counters
        follow, and the HPA says what its controller says of a target at zero replicas. Returns the
        pods that now run, or None when the ReplicaSet already runs as many (the sandbox's own
        seeding wrote them first)."""
        from sandbox.cluster import scale_deployment
        from sandbox.kubeapi import resources

        deployment = self.store.get("apps/v1", "Deployment", self.namespace, self.deployment) or deployment
        desired = deployment["spec"].get("replicas", 1)
        current = self._current_replica_set(deployment)
        if current is None:
            return None
        uid = current["metadata"]["uid"]
        running = sum(1 for p in self.store.items(resources.by_kind("v1", "Pod"), self.namespace)[0]
                      if any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences") or []))
        if running == desired:
            return None
        if running > desired:
            newest = sorted(self._pods(current), reverse=True,
                            key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
            for pod in newest[:running - desired]:
                self.store.delete("v1", "Pod", self.namespace, pod["metadata"]["name"])
                self.store.delete("metrics.k8s.io/v1beta1", "PodMetrics", self.namespace, pod["metadata"]["name"])
        elif self.app:
            scale_deployment(self.store, replicas=desired, now=datetime.now(timezone.utc), namespace=self.namespace,
                             deployment=self.deployment, by_hand=True)
        else:
            for _ in range(desired - running):
                self.store.apply(_running(self._pod(current, pullable=True)))
        current = self._scale(self.store.get("apps/v1", "ReplicaSet", self.namespace, current["metadata"]["name"]), desired)
        deployment = self.store.get("apps/v1", "Deployment", self.namespace, self.deployment)
        progressing = next((c for c in (deployment.get("status") or {}).get("conditions") or []
                            if c.get("type") == "Progressing"), {})
        deployment["status"] = self._status(deployment, progressing.get("reason", "NewReplicaSetAvailable"),
                                            progressing.get("message", ""), progressing.get("status", "True"))
        self.store.apply(deployment)
        self._hpa_sees(desired)
        return [p["metadata"]["name"] for p in self._pods(current)]

    def replace(self, pod: dict[str, Any]) -> list[str] | None:
        """The ReplicaSet controller: a pod of the deployment's current ReplicaSet was deleted (``kubectl
        delete pod``, an eviction) while the set still wants it, so a new pod with a new name takes its
        place. Returns the pods that now run, or None when nothing is replaced (a scale-down, a rollout
        under way, another workload's pod)."""
        from sandbox.cluster import scale_deployment

        owner = next((o for o in pod["metadata"].get("ownerReferences") or [] if o.get("kind") == "ReplicaSet"), None)
        deployment = self.store.get("apps/v1", "Deployment", self.namespace, self.deployment)
        if owner is None or deployment is None or pod["metadata"].get("namespace") != self.namespace:
            return None
        current = self._current_replica_set(deployment)
        if current is None or current["metadata"]["uid"] != owner.get("uid"):
            return None
        wanted = current["spec"].get("replicas", 0)
        if wanted != deployment["spec"].get("replicas", 1) or len(self._pods(current)) >= wanted:
            return None
        self.store.delete("metrics.k8s.io/v1beta1", "PodMetrics", self.namespace, pod["metadata"]["name"])
        if self.app:
            scale_deployment(self.store, replicas=wanted, now=datetime.now(timezone.utc), namespace=self.namespace,
                             deployment=self.deployment, by_hand=True)
        else:
            self.store.apply(_running(self._pod(current, pullable=True)))
        return [p["metadata"]["name"] for p in self._pods(current)]

    def _hpa_sees(self, replicas: int) -> None:
        """The HPA controller on a target at zero replicas: autoscaling is off until someone scales
        it up again (ScalingActive False, ScalingDisabled); from then on it computes a count again."""
        hpa = next((h for h in self.store.list("autoscaling/v2", "HorizontalPodAutoscaler", self.namespace)
                    if ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("name") == self.deployment), None)
        if hpa is None:
            return
        status = hpa.setdefault("status", {})
        status["currentReplicas"] = status["desiredReplicas"] = replicas
        conditions = status.setdefault("conditions", [])
        active = next((c for c in conditions if c.get("type") == "ScalingActive"), None)
        if active is None:
            active = {"type": "ScalingActive"}
            conditions.append(active)
        disabled = replicas == 0 and (hpa.get("spec") or {}).get("minReplicas", 1) != 0
        if disabled != (active.get("reason") == "ScalingDisabled"):
            active.update(lastTransitionTime=_now(), **(
                {"status": "False", "reason": "ScalingDisabled",
                 "message": "scaling is disabled since the replica count of the target is zero"} if disabled else
                {"status": "True", "reason": "ValidMetricFound",
                 "message": "the HPA was able to successfully calculate a replica count from cpu resource "
                            "utilization (percentage of request)"}))
        self.store.apply(hpa)

    # --- the background part ---

    def _progress(self, generation: int, name: str) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.step_seconds):
            deployment = self.store.get("apps/v1", "Deployment", self.namespace, self.deployment)
            if deployment is None or deployment["metadata"]["generation"] != generation:
                return  # superseded by a newer template: that rollout carries on
            deadline = (deployment["spec"] or {}).get("progressDeadlineSeconds", 600)
            if self._step(deployment, name):
                return
            if time.monotonic() - started > deadline:
                self._write_status(deployment, "ProgressDeadlineExceeded",
                                   f'ReplicaSet "{name}" has timed out progressing.', progressing="False")
                return

    def _step(self, deployment: dict[str, Any], name: str) -> bool:
        """One controller sync: surge one pod, make a started pod ready, or scale an old set down.
        Returns True once the rollout is complete."""
        desired = deployment["spec"].get("replicas", 1)
        new = self.store.get("apps/v1", "ReplicaSet", self.namespace, name)
        pods = self._pods(new)
        image = new["spec"]["template"]["spec"]["containers"][0]["image"]
        starting = [p for p in pods if not _ready(p)]
        if starting:
            if not self._pullable(new):
                return False  # ImagePullBackOff: nothing progresses until the template changes
            for pod in starting:
                self.store.apply(_running(pod))
            self._scale(new, len(pods))
            self._scale_old_down(deployment, name, by=len(starting))
            if len(pods) >= desired:  # every new pod ready: they serve before the status can say done
                self.on_serving(image, [p["metadata"]["name"] for p in self._pods(new)])
            self._write_status(deployment, "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.')
            return False
        if len(pods) < desired:
            self._scale(new, len(pods) + 1)
            self.store.apply(self._pod(new, pullable=self._pullable(new)))
            self._write_status(deployment, "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.')
            return False
        self._scale_old_down(deployment, name, by=desired)
        self.on_serving(image, [p["metadata"]["name"] for p in self._pods(new)])
        self._write_status(deployment, "NewReplicaSetAvailable", f'ReplicaSet "{name}" has successfully progressed.')
        return True

    # --- objects ---

    def _current_replica_set(self, deployment: dict[str, Any]) -> dict[str, Any] | None:
        """The ReplicaSet of the deployment's current revision."""
        revision = (deployment["metadata"].get("annotations") or {}).get(REVISION)
        return next((rs for rs in self._replica_sets(deployment)
                     if (rs["metadata"].get("annotations") or {}).get(REVISION) == revision), None)

    def _replica_sets(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        uid = deployment["metadata"]["uid"]
        return [rs for rs in self.store.list("apps/v1", "ReplicaSet", self.namespace)
                if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences") or [])]

    def _pods(self, rs: dict[str, Any]) -> list[dict[str, Any]]:
        uid = rs["metadata"]["uid"]
        return [p for p in self.store.list("v1", "Pod", self.namespace)
                if any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences") or [])]

    def _new_replica_set(self, deployment: dict[str, Any], template: dict[str, Any], revision: int) -> dict[str, Any]:
        pod_hash = template_hash(json.dumps(template, sort_keys=True))
        template = copy.deepcopy(template)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        replicas = deployment["spec"].get("replicas", 1)
        selector = copy.deepcopy(deployment["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        return self.store.apply({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{self.deployment}-{pod_hash}", "namespace": self.namespace,
                         "labels": dict(template["metadata"]["labels"]),
                         "annotations": {REVISION: str(revision),
                                         "deployment.kubernetes.io/desired-replicas": str(replicas),
                                         "deployment.kubernetes.io/max-replicas": str(replicas + 1)},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": self.deployment, "uid": deployment["metadata"]["uid"],
                                              "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0},
        })

    def _scale(self, rs: dict[str, Any], replicas: int) -> dict[str, Any]:
        rs = copy.deepcopy(rs)
        rs["spec"]["replicas"] = replicas
        pods = self._pods(rs)
        ready = sum(1 for p in pods if _ready(p))
        rs["status"] = {"replicas": replicas, **_counters(fullyLabeledReplicas=replicas, readyReplicas=ready,
                                                          availableReplicas=ready),
                        "observedGeneration": rs["metadata"].get("generation", 1)}
        return self.store.apply(rs)

    def _scale_old_down(self, deployment: dict[str, Any], name: str, *, by: int) -> None:
        for rs in self._replica_sets(deployment):
            if rs["metadata"]["name"] == name or not rs["spec"].get("replicas"):
                continue
            pods = self._pods(rs)
            gone = min(by, len(pods))
            # The ReplicaSet is scaled down first, then its controller deletes the pods it no longer wants.
            self._scale(rs, max(0, rs["spec"]["replicas"] - gone))
            for pod in pods[:gone]:
                self.store.delete("v1", "Pod", self.namespace, pod["metadata"]["name"])
            self._scale(self.store.get("apps/v1", "ReplicaSet", self.namespace, rs["metadata"]["name"]),
                        max(0, rs["spec"]["replicas"] - gone))
            by -= gone
            if by <= 0:
                return

    def _pod(self, rs: dict[str, Any], *, pullable: bool) -> dict[str, Any]:
        spec = copy.deepcopy(rs["spec"]["template"]["spec"])
        labels = dict(rs["spec"]["template"]["metadata"]["labels"])
        existing = self.store.list("v1", "Pod", self.namespace)
        spec["nodeName"] = (existing[0]["spec"].get("nodeName") if existing else None) or "ip-10-0-1-11.ec2.internal"
        now = _now()

        def waiting(c: dict[str, Any]) -> dict[str, str]:
            if pullable:
                return {"reason": "ContainerCreating"}
            return {"reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{c["image"]}": ErrImagePull: rpc error: code = NotFound '
                               f'desc = failed to pull and unpack image "{c["image"]}": not found'}

        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{rs['metadata']['name']}-{_suffix()}", "namespace": self.namespace,
                         "labels": labels,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": rs["metadata"]["name"], "uid": rs["metadata"]["uid"],
                                              "controller": True, "blockOwnerDeletion": True}]},
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": "Burstable", "startTime": now,
                       "conditions": [{"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": now},
                                      {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                                      {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                                       "message": f"containers with unready status: [{spec['containers'][0]['name']}]",
                                       "lastTransitionTime": now},
                                      {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady",
                                       "lastTransitionTime": now},
                                      {"type": "PodScheduled", "status": "True", "lastTransitionTime": now}],
                       "containerStatuses": [{"name": c["name"], "image": c["image"], "imageID": "", "ready": False,
                                              "started": False, "restartCount": 0, "lastState": {},
                                              "state": {"waiting": waiting(c)}}
                                             for c in spec["containers"]]},
        }

    def _pullable(self, rs: dict[str, Any]) -> bool:
        for container in rs["spec"]["template"]["spec"]["containers"]:
            repository, _, tag = container["image"].partition("@")[0].rpartition(":")
            if repository == self.repository and tag not in REGISTRY_TAGS:
                return False
        return True

    def _status(self, deployment: dict[str, Any], reason: str, message: str, progressing: str = "True") -> dict[str, Any]:
        desired = deployment["spec"].get("replicas", 1)
        sets = self._replica_sets(deployment)
        revision = (deployment["metadata"].get("annotations") or {}).get(REVISION)
        pods = {rs["metadata"]["name"]: self._pods(rs) for rs in sets}
        new = [rs for rs in sets if (rs["metadata"].get("annotations") or {}).get(REVISION) == revision]
        updated = sum(len(pods[rs["metadata"]["name"]]) for rs in new)
        total = sum(len(p) for p in pods.values())
        available = sum(1 for p in pods.values() for pod in p if _ready(pod))
        now = _now()
        minimum = desired - int(desired * 0.25)
        old = {c["type"]: c for c in (deployment.get("status") or {}).get("conditions") or []}
        conditions = [
            {"type": "Available", "status": "True" if available >= minimum else "False",
             "reason": "MinimumReplicasAvailable" if available >= minimum else "MinimumReplicasUnavailable",
             "message": "Deployment has minimum availability." if available >= minimum
             else "Deployment does not have minimum availability.",
             "lastUpdateTime": now, "lastTransitionTime": (old.get("Available") or {}).get("lastTransitionTime", now)},
            {"type": "Progressing", "status": progressing, "reason": reason, "message": message,
             "lastUpdateTime": now, "lastTransitionTime": (old.get("Progressing") or {}).get("lastTransitionTime", now)},
        ]
        return {"observedGeneration": deployment["metadata"]["generation"],
                **_counters(replicas=total, updatedReplicas=updated, readyReplicas=available,
                            availableReplicas=available, unavailableReplicas=max(0, desired - available)),
                "conditions": conditions}

    def _write_status(self, deployment: dict[str, Any], reason: str, message: str, progressing: str = "True") -> None:
        current = self.store.get("apps/v1", "Deployment", self.namespace, self.deployment)
        if current is None or current["metadata"]["generation"] != deployment["metadata"]["generation"]:
            return
        current["status"] = self._status(current, reason, message, progressing)
        self.store.apply(current)


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _running(pod: dict[str, Any]) -> dict[str, Any]:
    pod = copy.deepcopy(pod)
    now = _now()
    status = pod["status"]
    status["phase"] = "Running"
    status["podIP"] = f"10.0.1.{100 + secrets.randbelow(150)}"
    status["podIPs"] = [{"ip": status["podIP"]}]
    status["hostIP"] = "10.0.1.11"
    for condition in status["conditions"]:
        condition.update({"status": "True", "lastTransitionTime": now})
        condition.pop("reason", None)
        condition.pop("message", None)
    for container in status["containerStatuses"]:
        container.update({"ready": True, "started": True, "imageID": f"{container['image']}@sha256:{'0' * 64}",
                          "containerID": f"containerd://{secrets.token_hex(32)}",
                          "state": {"running": {"startedAt": now}}})
    return pod
