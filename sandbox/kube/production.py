"""Production, built on the real control plane through its API as a cluster would have it.

The app's Deployment, HPA, Service, ServiceAccount and Ingress come from the sandbox's chart
(``sandbox/kube/chart``) through the real helm CLI: installed at the previous version, then upgraded,
so the release history is Helm's own. Everything else is applied as an operator would: the
namespaces, kwok's nodes, secret jwt-keys, the ingress controller, PostgreSQL and Redis as
StatefulSets whose kwok pods stand for the real servers the sandbox runs, and the suite's identity
from deploy/kubernetes exactly as shipped. Pods are made by the real controllers, scheduled by the
real scheduler, and run by kwok.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import yaml

from sandbox.kube import build
from sandbox.kube.controlplane import KWOK_NODE_ANNOTATION, ControlPlane

__all__ = ["CHART", "NODE_GROUPS", "NODE_NAMES", "helm", "manifests", "install_release", "rbac_documents"]

CHART = Path(__file__).resolve().parent / "chart"
REPO = Path(__file__).resolve().parents[2]
KUSTOMIZATION = REPO / "deploy" / "kubernetes"
NODE_NAMES = ("ip-10-0-1-11.ec2.internal", "ip-10-0-2-12.ec2.internal", "ip-10-0-3-13.ec2.internal")
#: Each node has a kubelet of its own (a kwok process for its group): stopping one is one node's outage.
NODE_GROUPS = {name: f"node-{index}" for index, name in enumerate(NODE_NAMES)}
_IDENTITY_KINDS = ("Namespace", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


def rbac_documents(directory: Path = KUSTOMIZATION) -> list[dict[str, Any]]:
    """The suite's identity from the shipped kustomization: its Namespace, ServiceAccount,
    (Cluster)Role and (Cluster)RoleBinding documents, exactly as shipped."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    documents = []
    for name in kustomization.get("resources") or []:
        with open(directory / name, encoding="utf-8") as handle:
            documents += [doc for doc in yaml.safe_load_all(handle) if doc and doc.get("kind") in _IDENTITY_KINDS]
    return documents


def _node(name: str) -> dict[str, Any]:
    key, value = KWOK_NODE_ANNOTATION[0], NODE_GROUPS[name]
    capacity = {"cpu": "4", "memory": "16073528Ki", "pods": "58", "ephemeral-storage": "83873772Ki"}
    allocatable = {"cpu": "3920m", "memory": "15056696Ki", "pods": "58", "ephemeral-storage": "76224326324"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": {
            key: value, "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{name}/metrics/resource"},
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                       "node.kubernetes.io/instance-type": "m5.xlarge", "topology.kubernetes.io/zone": "us-east-1a"}},
        "status": {"capacity": capacity, "allocatable": allocatable,
                   "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                                "kubeletVersion": build.KUBERNETES, "containerRuntimeVersion": "containerd://1.7.27",
                                "osImage": "Amazon Linux 2023", "kernelVersion": "6.1.0",
                                "machineID": "", "systemUUID": "", "bootID": "", "kubeProxyVersion": ""}},
    }


def _container(name: str, image: str, port: int, cpu: tuple[str, str], memory: tuple[str, str]) -> dict[str, Any]:
    return {"name": name, "image": image, "ports": [{"name": name[:15], "containerPort": port}],
            "resources": {"requests": {"cpu": cpu[0], "memory": memory[0]},
                          "limits": {"cpu": cpu[1], "memory": memory[1]}}}


def _usage(cpu: str, memory: str) -> dict[str, str]:
    """The pod template annotations kwok reports as each pod's usage (what metrics-server scrapes)."""
    return {"kwok.x-k8s.io/usage-cpu": cpu, "kwok.x-k8s.io/usage-memory": memory}


def _stateful_set(namespace: str, app: str, image: str, port: int, usage: dict[str, str]) -> list[dict[str, Any]]:
    labels = {"app": app}
    return [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": app, "namespace": namespace, "labels": labels},
         "spec": {"clusterIP": "None", "selector": labels, "ports": [{"name": app[:15], "port": port}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet",
         "metadata": {"name": app, "namespace": namespace, "labels": labels},
         "spec": {"serviceName": app, "replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels, "annotations": usage},
                               "spec": {"containers": [_container(app, image, port, ("250m", "2"), ("256Mi", "2Gi"))]}}}},
    ]


def manifests(*, namespace: str, private_pem: str, public_pem: str) -> list[dict[str, Any]]:
    """Everything of production but the app's release, in the order an operator would apply it."""
    documents: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        for name in (namespace, "ingress-nginx", "runbook-checks")
    ]
    documents += [_node(name) for name in NODE_NAMES]
    documents += rbac_documents()
    documents.append({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "jwt-keys", "namespace": namespace},
        "data": {"private": base64.b64encode(private_pem.encode()).decode(),
                 "public": base64.b64encode(public_pem.encode()).decode()}})
    controller = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
    documents += [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ingress-nginx", "namespace": "ingress-nginx"}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx", "labels": controller},
         "spec": {"replicas": 1, "selector": {"matchLabels": controller},
                  "template": {"metadata": {"labels": controller, "annotations": _usage("4m", "93Mi")},
                               "spec": {"serviceAccountName": "ingress-nginx", "containers": [_container(
                                   "controller", "registry.k8s.io/ingress-nginx/controller:v1.12.0", 80,
                                   ("100m", "1"), ("90Mi", "512Mi"))]}}}},
    ]
    documents += _stateful_set(namespace, "postgres", "postgres:15.10", 5432, _usage("21m", "173Mi"))
    documents += _stateful_set(namespace, "redis", "redis:7.0.15", 6379, _usage("6m", "11Mi"))
    return documents


def helm(plane: ControlPlane, kubeconfig: Path, *args: str, timeout: float = 200) -> str:
    """Run the real helm CLI against the control plane as the admin; its output, or a one-line error."""
    binary = build.bin_dir(build.COMPONENTS["helm"]) / "helm"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(plane.state_dir), "KUBECONFIG": str(kubeconfig),
           "HELM_CACHE_HOME": str(plane.state_dir / "helm" / "cache"),
           "HELM_CONFIG_HOME": str(plane.state_dir / "helm" / "config"),
           "HELM_DATA_HOME": str(plane.state_dir / "helm" / "data")}
    result = subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args[:2])} failed: {result.stderr.strip()[:500]}")
    return result.stdout


def install_release(plane: ControlPlane, kubeconfig: Path, *, name: str, namespace: str,
                    history: list[str], role_arn: str, pool_size: int, replicas: int = 3) -> None:
    """``helm upgrade --install`` once per version in ``history`` (oldest first), each waiting for
    its rollout: revision N is ``history[N-1]``, the last one deployed, the others superseded."""
    for tag in history:
        helm(plane, kubeconfig, "upgrade", "--install", name, str(CHART), "--namespace", namespace,
             "--kube-context", "sandbox-admin", "--set", f"image.tag={tag}", "--set", f"roleArn={role_arn}",
             "--set", f"replicas={replicas}", "--set", f"poolSize={pool_size}", "--wait", "--timeout", "180s")
