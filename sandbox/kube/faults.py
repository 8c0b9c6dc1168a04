"""The drills' fault API on the real control plane: every Kubernetes fault is an API write as the
admin (what kubectl does), a pod's usage is kwok's usage annotation (metrics-server then reports it),
a node whose kubelet stops is its kwok process stopped, a scale is the deployment's scale.

What an imitation could write and a real API server refuses (a pod's spec, metrics objects) raises
:class:`NotOnTheRealControlPlane`, naming the drill's way forward.
"""

from __future__ import annotations

import json
from typing import Any

from core.wait import wait_until
from sandbox.faults import Faults
from sandbox.kube.controlplane import CLUSTER_SCOPED, api_path

__all__ = ["NotOnTheRealControlPlane", "RealFaults"]

#: How long a usage change takes to reach `kubectl top` at most: metrics-server's 10 s resolution,
#: twice, and a margin.
METRICS_SECONDS = 40.0


class NotOnTheRealControlPlane(NotImplementedError):
    """A fault the imitation wrote directly and a real cluster only reaches through its components."""


def _path(api_version: str, kind: str, namespace: str, name: str = "") -> str:
    try:
        return api_path(api_version, kind, namespace, name)
    except KeyError:
        raise NotOnTheRealControlPlane(
            f"kind {kind} ({api_version}) is not written by drills on the real control plane") from None


class RealFaults(Faults):
    """:class:`sandbox.faults.Faults` with its Kubernetes half on the real API."""

    @property
    def _kube(self):
        return self._sandbox.kube

    def _client(self):
        return self._kube._client

    # --- objects ---

    def kube_get(self, kind: str, name: str, *, namespace: str | None = None,
                 api_version: str = "v1") -> dict[str, Any] | None:
        return self._kube.get(_path(api_version, kind, self._namespace(namespace), name))

    def kube_list(self, kind: str, *, namespace: str | None = None, api_version: str = "v1") -> list[dict[str, Any]]:
        listed = self._kube.get(_path(api_version, kind, self._namespace(namespace))) or {}
        return [{"apiVersion": api_version, "kind": kind, **item} for item in listed.get("items", [])]

    def kube_apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create the object, or replace it (spec, then status through the status subresource)."""
        metadata = obj["metadata"]
        namespace = metadata.get("namespace") or ("" if obj["kind"] in CLUSTER_SCOPED else self._namespace(None))
        collection = _path(obj["apiVersion"], obj["kind"], namespace)
        body = {k: v for k, v in obj.items()}
        body["metadata"] = {k: v for k, v in metadata.items() if k not in ("resourceVersion", "uid",
                                                                            "creationTimestamp", "managedFields")}
        response = self._client().post(collection, json=body)
        if response.status_code == 409:
            current = self._kube.get(f"{collection}/{metadata['name']}")
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            response = self._client().put(f"{collection}/{metadata['name']}", json=body)
        response.raise_for_status()
        stored = response.json()
        if "status" in obj and obj["kind"] not in ("Event", "Secret", "ServiceAccount", "ConfigMap"):
            stored = self.kube_patch(obj["kind"], metadata["name"], {"status": obj["status"]}, namespace=namespace,
                                     api_version=obj["apiVersion"], subresource="status")
        return stored

    def kube_patch(self, kind: str, name: str, patch: dict[str, Any], *, namespace: str | None = None,
                   api_version: str = "v1", subresource: str | None = None) -> dict[str, Any]:
        path = _path(api_version, kind, self._namespace(namespace), name)
        if subresource is not None:
            path += f"/{subresource}"
            patch = {"status": patch.get("status", {})} if subresource == "status" else patch
        response = self._client().patch(path, content=json.dumps(patch),
                                        headers={"Content-Type": "application/merge-patch+json"})
        if response.status_code == 404:
            raise LookupError(f"no {kind} {name} in namespace {self._namespace(namespace)}")
        response.raise_for_status()
        return response.json()

    def kube_delete(self, kind: str, name: str, *, namespace: str | None = None,
                    api_version: str = "v1") -> dict[str, Any] | None:
        response = self._client().delete(_path(api_version, kind, self._namespace(namespace), name))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    # --- usage, nodes, scale, rollouts ---

    def pod_usage(self, pod: str, container: str = "app", *, cpu: str | None = None, memory: str | None = None,
                  namespace: str | None = None) -> None:
        """The pod's kubelet (kwok) reports this usage: its usage annotations; waits until
        metrics-server serves it (up to METRICS_SECONDS)."""
        annotations = {}
        if cpu is not None:
            annotations["kwok.x-k8s.io/usage-cpu"] = cpu
        if memory is not None:
            annotations["kwok.x-k8s.io/usage-memory"] = memory
        self.kube_patch("Pod", pod, {"metadata": {"annotations": annotations}}, namespace=namespace)
        self._wait_for_usage(pod, container, namespace, cpu=cpu, memory=memory)

    def _wait_for_usage(self, pod: str, container: str, namespace: str | None, *, cpu, memory) -> None:
        from kubernetes.utils.quantity import parse_quantity

        path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{self._namespace(namespace)}/pods/{pod}"

        def usage():
            metrics = self._kube.get(path) or {}
            return next((c["usage"] for c in metrics.get("containers", []) if c["name"] == container), None)

        def reported(found) -> bool:
            # kwok's CPU counter is sampled at two moments: the rate may be off by a millicore or two
            return found is not None and (cpu is None or abs(parse_quantity(found["cpu"]) - parse_quantity(cpu))
                                          <= parse_quantity(cpu) / 50 + parse_quantity("2m")) \
                and (memory is None or parse_quantity(found["memory"]) == parse_quantity(memory))

        if not wait_until(usage, reported, timeout_s=METRICS_SECONDS, interval_s=0.5).done:
            raise TimeoutError(f"metrics-server did not report pod {pod}'s new usage within {METRICS_SECONDS:.0f} s")

    def node_usage(self, node: str, *, cpu: str | None = None, memory: str | None = None) -> None:
        raise NotOnTheRealControlPlane("a node's usage is its pods' on kwok: run another tenant's pod there")

    def scale(self, replicas: int) -> None:
        """``kubectl scale deployment app-backend --replicas=N``, then its rollout."""
        from sandbox.stack import DEPLOYMENT

        self._kube.kubectl("scale", f"deployment/{DEPLOYMENT}", "-n", self._namespace(None), f"--replicas={replicas}")
        self._kube.kubectl("rollout", "status", f"deployment/{DEPLOYMENT}", "-n", self._namespace(None),
                           "--timeout=120s", timeout=130)

    def expire_list_tokens(self) -> None:
        raise NotOnTheRealControlPlane("compact etcd (etcdctl compact) to expire continue tokens")

    def kubelet_stopped(self, node: str) -> dict[str, Any]:
        """The node's kubelet stops: its kwok process is stopped by its pid, and the node lifecycle
        controller marks the node (Unknown, unreachable taints) after its grace period."""
        self._kube.stop_kubelet(node)

        def unreachable(current) -> bool:
            return "node.kubernetes.io/unreachable" in {t["key"] for t in (current.get("spec") or {}).get("taints") or []}

        waited = wait_until(lambda: self.kube_get("Node", node), unreachable, timeout_s=60, interval_s=0.5)
        if not waited.done:
            raise TimeoutError(f"node {node} was not marked unreachable within 60 s")
        return waited.last

    def set_image(self, image: str, *, container: str = "app") -> dict[str, Any]:
        """``kubectl set image deployment/app-backend app=<image>``: the deployment controller rolls it out."""
        from sandbox.stack import DEPLOYMENT

        self._kube.kubectl("set", "image", f"deployment/{DEPLOYMENT}", f"{container}={image}",
                           "-n", self._namespace(None))
        return self.kube_get("Deployment", DEPLOYMENT, api_version="apps/v1")

    def stop(self, service: str) -> None:
        """The server's process dies (PostgreSQL and Redis keep their data): its pod turns not
        Ready, and a new pod (the StatefulSet's, after a delete or a restart) starts it again."""
        if service in ("postgres", "redis"):
            self._service(service).suspend()
            return
        super().stop(service)

    def _deploy_build(self, fault: str, value: object) -> None:
        """Deploy the bad build that serves this fault (kubectl set image), and wait for its rollout."""
        from sandbox.kube.cluster import BAD_BUILDS
        from sandbox.stack import DEPLOYMENT, IMAGE

        tag = next(tag for tag, faults in BAD_BUILDS.items() if faults.get(fault) == value)
        self.set_image(f"{IMAGE.rpartition(':')[0]}:{tag}")
        self._kube.kubectl("rollout", "status", f"deployment/{DEPLOYMENT}", "-n", self._namespace(None),
                           "--timeout=120s", timeout=130)
        # the stand-in follows the pods within FOLLOW_SECONDS
        wait_until(lambda: self._sandbox.app.version, lambda version: version == tag, timeout_s=10, interval_s=0.1)

    def health(self, fault: str | None) -> None:
        """A build whose health endpoints fail, deployed; None: the stand-in heals at once."""
        if fault is None:
            return super().health(fault)
        self._deploy_build("health_fault", fault)

    def api(self, fault: str | None) -> None:
        """A build whose authenticated API fails, deployed."""
        if fault is None:
            return super().api(fault)
        self._deploy_build("api_fault", fault)

    def app_ignores_revocations(self) -> None:
        """A build that skips the revocation check, deployed."""
        self._deploy_build("ignore_revocations", True)

    def helm_status(self, version: int, status: str) -> None:
        raise NotOnTheRealControlPlane("a failed Helm revision comes from a helm upgrade that fails")
