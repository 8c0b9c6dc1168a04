"""What a healthy production cluster looks like, as objects for the sandbox's Kubernetes API.

``seed_production`` writes the production namespace the runbook inspects (app-backend deployment,
its ReplicaSets, pods, metrics, HPA, events, secret jwt-keys, service account, service, ingress),
the ingress controller, the database pods and three Ready nodes. ``load_manifests`` applies every
document of a YAML file (deploy/rbac.yaml). Both write through ``store.apply``, so every object is
validated against the official schema.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import yaml

__all__ = ["seed_production", "load_manifests", "NODE_NAMES"]

NODE_NAMES = ("ip-10-0-1-11.ec2.internal", "ip-10-0-2-12.ec2.internal", "ip-10-0-3-13.ec2.internal")


class Store(Protocol):
    def apply(self, obj: dict[str, Any]) -> dict[str, Any]: ...


def _ts(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _owner(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
             "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]


def _container(name: str, image: str, *, port: int, cpu: tuple[str, str], memory: tuple[str, str]) -> dict[str, Any]:
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": cpu[0], "memory": memory[0]},
                          "limits": {"cpu": cpu[1], "memory": memory[1]}}}


def _template(labels: dict[str, str], containers: list[dict[str, Any]], service_account: str = "default") -> dict[str, Any]:
    return {"metadata": {"labels": labels},
            "spec": {"serviceAccountName": service_account, "containers": containers,
                     "restartPolicy": "Always", "terminationGracePeriodSeconds": 30}}


def _pod(store: Store, *, namespace: str, name: str, labels: dict[str, str], spec: dict[str, Any], node: str,
         ip: str, started: datetime, owner: dict[str, Any] | None) -> dict[str, Any]:
    statuses = [{"name": c["name"], "image": c["image"], "imageID": f"{c['image']}@sha256:{_hash(c['image']) * 6}"[:200],
                 "containerID": f"containerd://{_hash(name + c['name']) * 6}", "ready": True, "started": True,
                 "restartCount": 0, "state": {"running": {"startedAt": _ts(started)}}}
                for c in spec["containers"]]
    conditions = [{"type": t, "status": "True", "lastTransitionTime": _ts(started)}
                  for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels,
                                "creationTimestamp": _ts(started - timedelta(seconds=20))}
    if owner is not None:
        metadata["ownerReferences"] = _owner(owner)
    return store.apply({
        "apiVersion": "v1", "kind": "Pod", "metadata": metadata,
        "spec": {**spec, "nodeName": node},
        "status": {"phase": "Running", "conditions": conditions, "hostIP": "10.0.1.11", "podIP": ip,
                   "podIPs": [{"ip": ip}], "startTime": _ts(started - timedelta(seconds=15)), "qosClass": "Burstable",
                   "containerStatuses": statuses},
    })


def _deployment_status(replicas: int, created: datetime) -> dict[str, Any]:
    return {
        "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
             "message": "Deployment has minimum availability.",
             "lastUpdateTime": _ts(created), "lastTransitionTime": _ts(created)},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "message": "ReplicaSet has successfully progressed.",
             "lastUpdateTime": _ts(created), "lastTransitionTime": _ts(created)},
        ],
    }


def _replica_set(store: Store, deployment: dict[str, Any], *, revision: int, image: str, replicas: int,
                 created: datetime) -> tuple[dict[str, Any], str]:
    template_hash = _hash(image)
    name = f"{deployment['metadata']['name']}-{template_hash}"
    template = yaml.safe_load(yaml.safe_dump(deployment["spec"]["template"]))
    template["metadata"]["labels"]["pod-template-hash"] = template_hash
    template["spec"]["containers"][0]["image"] = image
    selector = {"matchLabels": {**deployment["spec"]["selector"]["matchLabels"], "pod-template-hash": template_hash}}
    rs = store.apply({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": deployment["metadata"]["namespace"],
                     "labels": template["metadata"]["labels"], "creationTimestamp": _ts(created),
                     "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                     "deployment.kubernetes.io/desired-replicas": str(deployment["spec"]["replicas"]),
                                     "deployment.kubernetes.io/max-replicas": str(deployment["spec"]["replicas"] + 1)},
                     "ownerReferences": _owner(deployment)},
        "spec": {"replicas": replicas, "selector": selector, "template": template},
        "status": {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                   "availableReplicas": replicas, "observedGeneration": 1},
    })
    return rs, template_hash


def _node(store: Store, name: str, index: int, created: datetime) -> None:
    capacity = {"cpu": "4", "memory": "16073528Ki", "pods": "58", "ephemeral-storage": "83873772Ki"}
    allocatable = {"cpu": "3920m", "memory": "15056696Ki", "pods": "58", "ephemeral-storage": "76224326324"}
    conditions = [{"type": t, "status": "False", "reason": r, "message": m, "lastHeartbeatTime": _ts(created),
                   "lastTransitionTime": _ts(created)}
                  for t, r, m in (("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                                  ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                                  ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))]
    conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                       "message": "kubelet is posting ready status", "lastHeartbeatTime": _ts(created),
                       "lastTransitionTime": _ts(created)})
    store.apply({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "creationTimestamp": _ts(created),
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                                "node-role.kubernetes.io/worker": "", "node.kubernetes.io/instance-type": "m6i.xlarge",
                                "topology.kubernetes.io/zone": f"us-east-1{'abc'[index % 3]}",
                                "eks.amazonaws.com/nodegroup": "production-workers"}},
        "spec": {"providerID": f"aws:///us-east-1{'abc'[index % 3]}/i-0{_hash(name)}"},
        "status": {"capacity": capacity, "allocatable": allocatable, "conditions": conditions,
                   "addresses": [{"type": "InternalIP", "address": f"10.0.{index + 1}.{11 + index}"},
                                 {"type": "Hostname", "address": name}],
                   "nodeInfo": {"machineID": _hash(name) * 3, "systemUUID": _hash(name + "uuid") * 3,
                                "bootID": _hash(name + "boot") * 3, "kernelVersion": "6.1.112-124.190.amzn2023.x86_64",
                                "osImage": "Amazon Linux 2023.6.20241121", "containerRuntimeVersion": "containerd://1.7.23",
                                "kubeletVersion": "v1.32.0-eks-aeac579", "kubeProxyVersion": "v1.32.0-eks-aeac579",
                                "operatingSystem": "linux", "architecture": "amd64"}},
    })
    store.apply({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
                 "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                 "timestamp": _ts(created), "window": "20s", "usage": {"cpu": f"{610 + 40 * index}m", "memory": "5820Mi"}})


def _event(store: Store, *, namespace: str, involved: dict[str, Any], reason: str, message: str, component: str,
           when: datetime, field_path: str = "") -> None:
    obj_meta = involved["metadata"]
    involved_object = {"kind": involved["kind"], "namespace": namespace, "name": obj_meta["name"],
                       "uid": obj_meta["uid"], "apiVersion": involved["apiVersion"],
                       "resourceVersion": obj_meta["resourceVersion"]}
    if field_path:
        involved_object["fieldPath"] = field_path
    store.apply({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{obj_meta['name']}.{_hash(reason + message)}", "namespace": namespace},
        "involvedObject": involved_object, "reason": reason, "message": message, "type": "Normal",
        "source": {"component": component}, "firstTimestamp": _ts(when), "lastTimestamp": _ts(when), "count": 1,
        "reportingComponent": component, "reportingInstance": "",
    })


def seed_production(store: Store, *, namespace: str = "production", deployment: str = "app-backend",
                    image: str = "ghcr.io/ytvideocreator/app-backend:1.42.0",
                    previous_image: str = "ghcr.io/ytvideocreator/app-backend:1.41.3", replicas: int = 3,
                    jwt_private_pem: str, jwt_public_pem: str, role_arn: str, now: datetime) -> None:
    """Write a healthy production into ``store``: everything the runbook's investigation steps read."""
    created = now - timedelta(days=3)
    rolled = now - timedelta(hours=2)
    for ns in (namespace, "ingress-nginx", "kube-system", "runbook-checks"):
        store.apply({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns},
                                  "creationTimestamp": _ts(created - timedelta(days=30))},
                     "status": {"phase": "Active"}})
    for index, node in enumerate(NODE_NAMES):
        _node(store, node, index, created - timedelta(days=30))

    labels = {"app": deployment}
    app = _container("app", image, port=8000, cpu=("250m", "1"), memory=("512Mi", "1Gi"))
    app["env"] = [{"name": "JWT_KEYS_DIR", "value": "/etc/jwt"}]
    app["volumeMounts"] = [{"name": "jwt-keys", "mountPath": "/etc/jwt", "readOnly": True}]
    app["readinessProbe"] = {"httpGet": {"path": "/health/ready", "port": 8000}, "periodSeconds": 10}
    app["livenessProbe"] = {"httpGet": {"path": "/health/live", "port": 8000}, "periodSeconds": 10}
    template = _template(dict(labels), [app], service_account=deployment)
    template["spec"]["volumes"] = [{"name": "jwt-keys", "secret": {"secretName": "jwt-keys"}}]
    deploy = store.apply({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": deployment, "namespace": namespace, "labels": dict(labels),
                     "creationTimestamp": _ts(created),
                     "annotations": {"deployment.kubernetes.io/revision": "7"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)}, "template": template,
                 "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}},
        "status": _deployment_status(replicas, rolled),
    })
    _replica_set(store, deploy, revision=6, image=previous_image, replicas=0, created=created)
    current, template_hash = _replica_set(store, deploy, revision=7, image=image, replicas=replicas, created=rolled)
    pod_spec = current["spec"]["template"]["spec"]
    pods = []
    for index in range(replicas):
        suffix = _hash(f"{template_hash}-{index}")[:5]
        pod = _pod(store, namespace=namespace, name=f"{deployment}-{template_hash}-{suffix}",
                   labels={**labels, "pod-template-hash": template_hash}, spec=pod_spec,
                   node=NODE_NAMES[index % len(NODE_NAMES)], ip=f"10.0.{index % 3 + 1}.{100 + index}",
                   started=rolled + timedelta(seconds=30), owner=current)
        pods.append(pod)
        store.apply({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
                     "metadata": {"name": pod["metadata"]["name"], "namespace": namespace, "labels": pod["metadata"]["labels"]},
                     "timestamp": _ts(now), "window": "18s",
                     "containers": [{"name": "app", "usage": {"cpu": f"{115 + 5 * index}m", "memory": f"{296 + 4 * index}Mi"}}]})

    store.apply({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": deployment, "namespace": namespace, "creationTimestamp": _ts(created)},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
                 "minReplicas": 3, "maxReplicas": 10,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]},
        "status": {"currentReplicas": replicas, "desiredReplicas": replicas, "lastScaleTime": _ts(rolled),
                   "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 48, "averageValue": "120m"}}}],
                   "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
                                   "message": "recommended size matches current size", "lastTransitionTime": _ts(created)},
                                  {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
                                   "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)",
                                   "lastTransitionTime": _ts(created)},
                                  {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange",
                                   "message": "the desired count is within the acceptable range", "lastTransitionTime": _ts(created)}]},
    })

    _event(store, namespace=namespace, involved=deploy, reason="ScalingReplicaSet",
           message=f"Scaled up replica set {current['metadata']['name']} to {replicas}", component="deployment-controller",
           when=rolled)
    for pod in pods:
        name = pod["metadata"]["name"]
        _event(store, namespace=namespace, involved=pod, reason="Scheduled",
               message=f"Successfully assigned {namespace}/{name} to {pod['spec']['nodeName']}", component="default-scheduler",
               when=rolled + timedelta(seconds=5))
        _event(store, namespace=namespace, involved=pod, reason="Pulled", field_path="spec.containers{app}",
               message=f'Container image "{image}" already present on machine', component="kubelet",
               when=rolled + timedelta(seconds=20))
        _event(store, namespace=namespace, involved=pod, reason="Started", field_path="spec.containers{app}",
               message="Started container app", component="kubelet", when=rolled + timedelta(seconds=25))

    store.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                 "metadata": {"name": "jwt-keys", "namespace": namespace, "creationTimestamp": _ts(created)},
                 "data": {"private": _b64(jwt_private_pem), "public": _b64(jwt_public_pem)}})
    store.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                 "metadata": {"name": deployment, "namespace": namespace, "creationTimestamp": _ts(created),
                              "annotations": {"eks.amazonaws.com/role-arn": role_arn}}})
    store.apply({"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": deployment, "namespace": namespace, "labels": dict(labels), "creationTimestamp": _ts(created)},
                 "spec": {"type": "ClusterIP", "selector": dict(labels), "clusterIP": "172.20.41.17", "clusterIPs": ["172.20.41.17"],
                          "ports": [{"name": "http", "port": 80, "targetPort": 8000, "protocol": "TCP"}]}})
    store.apply({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                 "metadata": {"name": deployment, "namespace": namespace, "creationTimestamp": _ts(created),
                              "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "50m"}},
                 "spec": {"ingressClassName": "nginx",
                          "tls": [{"hosts": ["api.ytvideocreator.com"], "secretName": "api-tls"}],
                          "rules": [{"host": "api.ytvideocreator.com", "http": {"paths": [
                              {"path": "/", "pathType": "Prefix",
                               "backend": {"service": {"name": deployment, "port": {"number": 80}}}}]}}]},
                 "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}})

    _ingress_controller(store, created)
    _stateful_pod(store, namespace, "postgres-0", "postgres", "postgres:15.10", 5432, created)
    _stateful_pod(store, namespace, "redis-0", "redis", "redis:7.0.15", 6379, created)


def _ingress_controller(store: Store, created: datetime) -> None:
    namespace, name = "ingress-nginx", "ingress-nginx-controller"
    labels = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
    container = _container("controller", "registry.k8s.io/ingress-nginx/controller:v1.12.0", port=80,
                           cpu=("100m", "1"), memory=("90Mi", "512Mi"))
    deploy = store.apply({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels), "creationTimestamp": _ts(created),
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": dict(labels)},
                 "template": _template(dict(labels), [container], service_account="ingress-nginx")},
        "status": _deployment_status(1, created),
    })
    rs, template_hash = _replica_set(store, deploy, revision=1, image=container["image"], replicas=1, created=created)
    _pod(store, namespace=namespace, name=f"{name}-{template_hash}-{_hash(name)[:5]}",
         labels={**labels, "pod-template-hash": template_hash}, spec=rs["spec"]["template"]["spec"],
         node=NODE_NAMES[0], ip="10.0.1.50", started=created + timedelta(seconds=30), owner=rs)


def _stateful_pod(store: Store, namespace: str, name: str, app: str, image: str, port: int, created: datetime) -> None:
    container = _container(app, image, port=port, cpu=("250m", "2"), memory=("256Mi", "2Gi"))
    container["ports"][0]["name"] = app[:15]
    _pod(store, namespace=namespace, name=name, labels={"app": app, "statefulset.kubernetes.io/pod-name": name},
         spec=_template({}, [container])["spec"], node=NODE_NAMES[1 if app == "postgres" else 2],
         ip=f"10.0.2.{60 if app == 'postgres' else 61}", started=created + timedelta(seconds=40), owner=None)


def load_manifests(store: Store, path: Path | str) -> list[dict[str, Any]]:
    """Apply every document of the YAML file at ``path``; returns what was stored."""
    with open(path, encoding="utf-8") as handle:
        return [store.apply(doc) for doc in yaml.safe_load_all(handle) if doc]
