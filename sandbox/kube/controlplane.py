"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok's fake kubelets, each a child process of this one.

The binaries come from :mod:`sandbox.kube.build` (the project's own Go modules, built once into a
cache outside the checkout). Identities are static bearer tokens (``--token-auth-file``): the
admin (``system:masters``), the suite's service account (held to deploy/kubernetes/rbac.yaml by
the API server's own RBAC), and one per component. Nothing listens beyond 127.0.0.1.

    plane = ControlPlane(state_dir)
    plane.start()                       # ready: /readyz answers, namespace default exists
    plane.write_kubeconfig(path, {...})
    plane.stop()
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import ssl
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sandbox.kube import build
from sandbox.kube.pki import Pki, make_pki
from sandbox.ports import free_port
from sandbox.process import terminate

__all__ = ["CLUSTER_SCOPED", "ControlPlane", "ControlPlaneError", "Identity", "KWOK_NODE_ANNOTATION", "PLURALS",
           "STAGES", "api_path"]

#: Nodes carrying this annotation are kwok's to run (kwok's own convention).
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
#: The controllers the sandbox's incidents and remediations rely on (kube-controller-manager names).
CONTROLLERS = (
    "deployment-controller", "replicaset-controller", "statefulset-controller",
    "horizontal-pod-autoscaler-controller", "garbage-collector-controller", "namespace-controller",
    "serviceaccount-controller", "serviceaccount-token-controller", "node-lifecycle-controller",
    "taint-eviction-controller", "endpoints-controller", "endpointslice-controller", "job-controller",
    "cronjob-controller", "disruption-controller", "pod-garbage-collector-controller",
    "root-ca-certificate-publisher-controller", "clusterrole-aggregation-controller",
)
#: kwok's own Stage definitions (read from the kwok module the build cached), in the order given:
#: nodes become Ready and renew their leases; pods are scheduled, start, become Ready, finish, go.
STAGES = (
    "stage/node/fast/node-initialize.yaml",
    "stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "stage/pod/general/pod-create.yaml",
    "stage/pod/general/pod-init-container-running.yaml",
    "stage/pod/general/pod-init-container-completed.yaml",
    "stage/pod/general/pod-ready.yaml",
    "stage/pod/general/pod-complete.yaml",
    "stage/pod/general/pod-delete.yaml",
)
#: kwok's kubelet-style resource metrics (what metrics-server scrapes) and usage: a pod's CPU and
#: memory are its annotations ``kwok.x-k8s.io/usage-cpu`` and ``kwok.x-k8s.io/usage-memory``
#: (1m and 1Mi without them), so raising a pod's usage is an API write.
METRICS = (
    "metrics/resource/metrics-resource.yaml",
    "metrics/usage/usage-from-annotation.yaml",
)
SERVICE_CIDR = "10.96.0.0/16"


class ControlPlaneError(RuntimeError):
    """A component did not start: which one, and the last lines of its log."""


@dataclass(frozen=True)
class Identity:
    """A static-token user of the API server."""

    user: str
    groups: tuple[str, ...]
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok on loopback."""

    def __init__(self, state_dir: Path, *, identities: Mapping[str, Identity] = (),
                 node_monitor_grace_seconds: int = 20, hpa_sync_seconds: int = 2) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.logs = self.state_dir / "logs"
        self.node_monitor_grace_seconds = node_monitor_grace_seconds
        self.hpa_sync_seconds = hpa_sync_seconds
        self.identities: dict[str, Identity] = {
            "admin": Identity("sandbox-admin", ("system:masters",)),
            "kube-controller-manager": Identity("system:kube-controller-manager", ("system:masters",)),
            "kube-scheduler": Identity("system:kube-scheduler", ("system:masters",)),
            "kwok": Identity("kwok-controller", ("system:masters",)),
            "metrics-server": Identity("system:serviceaccount:kube-system:metrics-server", ("system:masters",)),
            **dict(identities),
        }
        self.apiserver_port = 0
        self.etcd_port = 0
        self.kwok_port = 0
        self.metrics_port = 0
        self.pki: Pki | None = None
        self._processes: dict[str, subprocess.Popen] = {}

    # --- addresses and files ---

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def ca_file(self) -> Path:
        return self.pki.ca

    def pid(self, component: str) -> int | None:
        process = self._processes.get(component)
        return process.pid if process is not None and process.poll() is None else None

    def kubeconfig(self, path: Path, contexts: Mapping[str, str], *, current: str | None = None,
                   namespace: str | None = None) -> Path:
        """Write a kubeconfig (0600) with one context per ``{context name: identity key}``."""
        users, context_entries = [], []
        for name, key in contexts.items():
            users.append({"name": name, "user": {"token": self.identities[key].token}})
            context = {"cluster": "sandbox", "user": name}
            if namespace:
                context["namespace"] = namespace
            context_entries.append({"name": name, "context": context})
        document = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url,
                                                         "certificate-authority": str(self.ca_file)}}],
            "users": users, "contexts": context_entries,
            "current-context": current or next(iter(contexts)),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(yaml.safe_dump(document, sort_keys=False))
        return path

    # --- lifecycle ---

    def start(self, *, timeout: float = 90.0) -> ControlPlane:
        """Start every component and wait until the API server is ready and its controllers run."""
        binaries = build.ensure(["etcd", "kubernetes", "kwok", "metrics-server"])
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self.pki = make_pki(self.state_dir / "pki")
        deadline = time.monotonic() + timeout
        atexit.register(self.stop)  # a test or a sandbox that dies without stopping leaves nothing
        try:
            self._start_etcd(binaries["etcd"] / "server")
            self._wait_http(f"http://127.0.0.1:{self.etcd_port}/health", "etcd", deadline)
            self._start_apiserver(binaries["kubernetes"] / "kube-apiserver")
            self._wait_ready(deadline)
            self._start_controller_manager(binaries["kubernetes"] / "kube-controller-manager")
            self._start_scheduler(binaries["kubernetes"] / "kube-scheduler")
            self._apply_files([binaries["kwok"] / "kustomize" / "crd" / "bases" / "kwok.x-k8s.io_logs.yaml"])
            self._start_kwok(binaries["kwok"])
            self._start_metrics_server(binaries["metrics-server"] / "metrics-server")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every component, newest first; each by its own process id."""
        atexit.unregister(self.stop)
        for name in reversed(list(self._processes)):
            terminate(self._processes.pop(name), timeout=10)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- components ---

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.logs / f"{name}.log", "ab")
        try:
            self._processes[name] = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.state_dir,
                env={"PATH": "/usr/bin:/bin", "HOME": str(self.state_dir)})
        finally:
            log.close()

    def _start_etcd(self, binary: Path) -> None:
        self.etcd_port, peer = free_port(), free_port()
        self._spawn("etcd", [
            str(binary), "--name=sandbox", f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=sandbox=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync", "--quota-backend-bytes=1073741824", "--log-level=warn",
            "--auto-compaction-mode=periodic", "--auto-compaction-retention=5m",
        ])

    def _token_file(self) -> Path:
        path = self.state_dir / "tokens.csv"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for identity in self.identities.values():
                handle.write(f'{identity.token},{identity.user},{identity.user},"{",".join(identity.groups)}"\n')
        return path

    def _start_apiserver(self, binary: Path) -> None:
        self.apiserver_port = free_port()
        pki = self.pki
        self._spawn("kube-apiserver", [
            str(binary),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.apiserver_port}",
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={pki.apiserver_cert}", f"--tls-private-key-file={pki.apiserver_key}",
            f"--client-ca-file={pki.ca}", f"--token-auth-file={self._token_file()}",
            "--authorization-mode=RBAC", "--anonymous-auth=false",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--requestheader-client-ca-file={pki.front_proxy_ca}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--requestheader-group-headers=X-Remote-Group", "--requestheader-username-headers=X-Remote-User",
            f"--proxy-client-cert-file={pki.front_proxy_cert}", f"--proxy-client-key-file={pki.front_proxy_key}",
            # The aggregator reaches metrics-server through a Service of type ExternalName (localhost):
            # endpoints may not be loopback addresses, and there is no kube-proxy.
            "--enable-aggregator-routing=false",
            "--profiling=false", "--enable-priority-and-fairness=false", "--event-ttl=2h",
        ])

    def _component_kubeconfig(self, key: str) -> Path:
        return self.kubeconfig(self.state_dir / f"{key}.kubeconfig", {key: key})

    def _start_controller_manager(self, binary: Path) -> None:
        pki = self.pki
        self._spawn("kube-controller-manager", [
            str(binary), f"--kubeconfig={self._component_kubeconfig('kube-controller-manager')}",
            "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
            f"--controllers={','.join(CONTROLLERS)}",
            f"--root-ca-file={pki.ca}", f"--service-account-private-key-file={pki.service_account_key}",
            f"--cluster-signing-cert-file={pki.ca}", f"--cluster-signing-key-file={pki.ca_key}",
            "--node-monitor-period=2s", f"--node-monitor-grace-period={self.node_monitor_grace_seconds}s",
            f"--horizontal-pod-autoscaler-sync-period={self.hpa_sync_seconds}s",
            "--horizontal-pod-autoscaler-downscale-stabilization=30s",
            # The sandbox's pods start in a second: their first CPU samples count at once, where a
            # real pod's would be held back while it warms up (30 s and 5 min by default).
            "--horizontal-pod-autoscaler-initial-readiness-delay=1s",
            "--horizontal-pod-autoscaler-cpu-initialization-period=10s",
            "--concurrent-deployment-syncs=5", "--profiling=false",
        ])

    def _start_scheduler(self, binary: Path) -> None:
        self._spawn("kube-scheduler", [
            str(binary), f"--kubeconfig={self._component_kubeconfig('kube-scheduler')}",
            "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0", "--profiling=false",
        ])

    def _kwok_config(self, kwok_dir: Path) -> Path:
        documents = [
            {"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokConfiguration",
             # kwok's own defaults (zz_generated.defaults.go), written out: the kwok binary does not
             # apply them to a configuration file, and leaves zeros and nils that stop it or its
             # kubelet API (logs and exec are its "debugging handlers").
             "options": {"podPlayStageParallelism": 4, "nodePlayStageParallelism": 4, "nodeLeaseParallelism": 4,
                         "podsOnNodeSyncParallelism": 4, "enableDebuggingHandlers": True,
                         "enableProfilingHandler": False, "enableContentionProfiling": False,
                         "enablePodsOnNodeSyncListPager": True, "enablePodsOnNodeSyncStreamWatch": False,
                         # renewed every quarter of it: well inside the node controller's grace period
                         "nodeLeaseDurationSeconds": self.node_monitor_grace_seconds}},
        ]
        for stage in STAGES:
            documents.append(_quicken(yaml.safe_load((kwok_dir / "kustomize" / stage).read_text())))
        for metric in METRICS:
            documents.append(yaml.safe_load((kwok_dir / "kustomize" / metric).read_text()))
        path = self.state_dir / "kwok.yaml"
        path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
        return path

    def _start_kwok(self, kwok_dir: Path, group: str | None = None) -> str:
        """A kwok process running the nodes annotated ``kwok.x-k8s.io/node=<group>`` (default
        ``fake``): their kubelet. Stopping it (:meth:`stop_component`) is a kubelet that stops posting."""
        key, value = KWOK_NODE_ANNOTATION
        name = "kwok" if group is None else f"kwok-{group}"
        port = free_port()
        if group is None:
            self.kwok_port = port
        self._spawn(name, [
            str(kwok_dir / "kwok"), f"--kubeconfig={self._component_kubeconfig('kwok')}",
            f"--config={self._kwok_config(kwok_dir)}",
            "--manage-all-nodes=false", f"--manage-nodes-with-annotation-selector={key}={group or value}",
            "--node-ip=127.0.0.1", f"--node-port={port}", f"--server-address=127.0.0.1:{port}",
            f"--tls-cert-file={self.pki.kubelet_cert}", f"--tls-private-key-file={self.pki.kubelet_key}",
            "--cidr=10.244.0.0/16", "--enable-crds=Logs",
        ])
        return name

    def start_kubelet_group(self, group: str) -> str:
        """Another kwok process, for the nodes annotated ``kwok.x-k8s.io/node=<group>``; its name."""
        return self._start_kwok(build.bin_dir(build.COMPONENTS["kwok"]), group)

    def stop_component(self, name: str) -> None:
        """Stop one component by its process id (an incident: a kubelet group, metrics-server)."""
        process = self._processes.pop(name, None)
        if process is not None:
            terminate(process, timeout=10)

    def _start_metrics_server(self, binary: Path) -> None:
        """metrics-server scraping kwok's kubelet endpoint, registered as the metrics.k8s.io API."""
        self.metrics_port = free_port()
        kubeconfig = self._component_kubeconfig("metrics-server")
        self._spawn("metrics-server", [
            str(binary), f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1",
            f"--secure-port={self.metrics_port}",
            f"--tls-cert-file={self.pki.kubelet_cert}", f"--tls-private-key-file={self.pki.kubelet_key}",
            "--kubelet-use-node-status-port", "--kubelet-insecure-tls",
            "--kubelet-preferred-address-types=InternalIP", "--metric-resolution=10s",
            "--kubelet-request-timeout=5s", "--profiling=false",
        ])
        self.apply([
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "metrics-server", "namespace": "kube-system"},
             "spec": {"type": "ExternalName", "externalName": "localhost",
                      "ports": [{"name": "https", "port": self.metrics_port}]}},
            {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
             "metadata": {"name": "v1beta1.metrics.k8s.io"},
             "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": True,
                      "groupPriorityMinimum": 100, "versionPriority": 100,
                      "service": {"name": "metrics-server", "namespace": "kube-system",
                                  "port": self.metrics_port}}},
        ])

    def _apply_files(self, paths: list[Path]) -> None:
        documents = []
        for path in paths:
            documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        self.apply(documents)

    def apply(self, objects: list[dict]) -> None:
        """Server-side apply of each object as the admin (field manager ``sandbox``)."""
        import httpx

        headers = {"Authorization": f"Bearer {self.identities['admin'].token}",
                   "Content-Type": "application/apply-patch+yaml"}
        context = ssl.create_default_context(cafile=str(self.pki.ca))
        with httpx.Client(base_url=self.url, headers=headers, verify=context, timeout=10.0) as client:
            for obj in objects:
                response = client.patch(_object_path(obj), params={"fieldManager": "sandbox", "force": "true"},
                                        content=json.dumps(obj))
                if response.status_code >= 300:
                    raise ControlPlaneError(f"apply {obj['kind']} {obj['metadata']['name']}: "
                                            f"HTTP {response.status_code} {response.text[:300]}")

    # --- readiness ---

    def _check_alive(self, name: str) -> None:
        process = self._processes.get(name)
        if process is not None and process.poll() is not None:
            raise ControlPlaneError(f"{name} exited with code {process.returncode}: {self._log_tail(name)}")

    def _log_tail(self, name: str, lines: int = 3) -> str:
        try:
            tail = (self.logs / f"{name}.log").read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return "(no log)"
        return " | ".join(line[:300] for line in tail)

    def _wait_http(self, url: str, name: str, deadline: float, *, headers=None, verify=None) -> None:
        import httpx

        last = "no answer"
        while time.monotonic() < deadline:
            self._check_alive(name)
            try:
                response = httpx.get(url, headers=headers, verify=verify or False, timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as error:
                last = type(error).__name__
            time.sleep(0.1)
        raise ControlPlaneError(f"{name} not ready at {url} before the deadline ({last}): {self._log_tail(name)}")

    def _wait_ready(self, deadline: float) -> None:
        context = ssl.create_default_context(cafile=str(self.pki.ca))
        headers = {"Authorization": f"Bearer {self.identities['admin'].token}"}
        self._wait_http(f"{self.url}/readyz", "kube-apiserver", deadline, headers=headers, verify=context)
        self._wait_http(f"{self.url}/api/v1/namespaces/default", "kube-apiserver", deadline,
                        headers=headers, verify=context)


def _quicken(stage: dict) -> dict:
    """kwok's stage with the sandbox's timing: a step takes 0.2-0.5 s, not 1-6 s, and a deleted pod
    goes once its containers would have stopped (0.5 s), not at the end of its grace period (kwok's
    stage waits until deletionTimestamp, 30 s by default, where a real kubelet returns as soon as the
    process exits). A pod's own ``<stage>.stage.kwok.x-k8s.io/delay`` annotation still wins."""
    delay = stage["spec"].get("delay")
    if delay:
        delay["durationMilliseconds"] = 500 if stage["metadata"]["name"] == "pod-delete" else 200
        if "jitterDurationMilliseconds" in delay:
            delay["jitterDurationMilliseconds"] = 300
        if stage["metadata"]["name"] == "pod-delete":
            delay.pop("jitterDurationFrom", None)
    return stage


#: The REST names of the kinds the sandbox writes itself (the control plane, the drills' faults).
PLURALS = {
    "Pod": "pods", "Node": "nodes", "Event": "events", "Secret": "secrets", "ServiceAccount": "serviceaccounts",
    "Service": "services", "Namespace": "namespaces", "ConfigMap": "configmaps", "Deployment": "deployments",
    "ReplicaSet": "replicasets", "StatefulSet": "statefulsets", "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "Ingress": "ingresses", "APIService": "apiservices", "CustomResourceDefinition": "customresourcedefinitions",
}
CLUSTER_SCOPED = frozenset({"Node", "Namespace", "APIService", "CustomResourceDefinition"})


def api_path(api_version: str, kind: str, namespace: str = "", name: str = "") -> str:
    """The REST path of a kind's collection (or of one object, with ``name``); KeyError for a kind
    not in :data:`PLURALS`."""
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    scope = "" if kind in CLUSTER_SCOPED or not namespace else f"/namespaces/{namespace}"
    return f"{prefix}{scope}/{PLURALS[kind]}" + (f"/{name}" if name else "")


def _object_path(obj: dict) -> str:
    metadata = obj["metadata"]
    return api_path(obj["apiVersion"], obj["kind"], metadata.get("namespace", ""), metadata["name"])
