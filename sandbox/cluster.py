"""What a healthy production cluster looks like, as objects for the sandbox's Kubernetes API.

``seed_production`` writes the production namespace the runbook inspects (app-backend deployment,
its ReplicaSets, pods, metrics, HPA, events, secret jwt-keys, service account, service, ingress),
the ingress controller, the database pods and three Ready nodes. ``load_manifests`` applies every
document of a YAML file, and the suite's RBAC from the shipped deploy/kubernetes/ (``load_rbac``). Both write through ``store.apply``, so every object is
validated against the official schema.

The objects are shaped as a real cluster's (see shared KUBERNETES.md): names and pod-template-hash in
the generated-name alphabet, each pod's hostIP its node's address, every pod's kubelet report for
metrics-server (nanocores, Ki), kubelet and controller events in the legacy shape and the scheduler's
in the new-API shape, a node event in namespace ``default``, Deployment conditions naming the
ReplicaSet, and an idle HPA resting at minReplicas (ScalingLimited True TooFewReplicas).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import yaml

from sandbox.kubeapi import resources
from sandbox.kubeapi.store import random_suffix

__all__ = ["KUSTOMIZATION", "NODE_IPS", "NODE_NAMES", "event_name", "load_manifests", "load_rbac",
           "seed_production", "template_hash"]

NODE_NAMES = ("ip-10-0-1-11.ec2.internal", "ip-10-0-2-12.ec2.internal", "ip-10-0-3-13.ec2.internal")
NODE_IPS = dict(zip(NODE_NAMES, ("10.0.1.11", "10.0.2.12", "10.0.3.13")))
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery util/rand alphanums


class Store(Protocol):
    def apply(self, obj: dict[str, Any]) -> dict[str, Any]: ...


def _ts(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def template_hash(text: str) -> str:
    """A pod-template-hash as the deployment controller makes it: the FNV-32a hash of the template,
    in decimal, each digit mapped through ``rand.SafeEncodeString`` (``"7986654d4"``)."""
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_ALPHABET[ord(c) % len(_ALPHABET)] for c in str(value))


def _suffix(text: str) -> str:
    """A 5-character generated-name suffix, stable per ``text`` (the ReplicaSet controller's are random)."""
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:5])


def event_name(involved: str, when: datetime) -> str:
    """``<involvedObject.name>.<hex nanoseconds>``, as client-go's event recorder names events."""
    return f"{involved}.{int(when.timestamp() * 1_000_000) * 1000:x}"


def _micro(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def _pod_spec_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """The fields kube-apiserver's defaulting and admission add to every pod spec."""
    containers = [{**c, "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
                  for c in spec["containers"]]
    return {**spec, "containers": containers, "dnsPolicy": "ClusterFirst", "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority", "priority": 0, "schedulerName": "default-scheduler",
            "securityContext": {}, "serviceAccount": spec.get("serviceAccountName", "default"),
            "tolerations": [{"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300} for t in ("not-ready", "unreachable")]}


def _pod_object(*, namespace: str, name: str, labels: dict[str, str], spec: dict[str, Any], node: str, ip: str,
                started: datetime, owner: dict[str, Any] | None) -> dict[str, Any]:
    statuses = [{"name": c["name"], "state": {"running": {"startedAt": _ts(started)}}, "lastState": {},
                 "ready": True, "restartCount": 0, "image": c["image"],
                 "imageID": f"{c['image'].rpartition(':')[0]}@sha256:{hashlib.sha256(c['image'].encode()).hexdigest()}",
                 "containerID": f"containerd://{hashlib.sha256((name + c['name']).encode()).hexdigest()}",
                 "started": True}
                for c in spec["containers"]]
    conditions = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": _ts(started)}
                  for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels,
                                "creationTimestamp": _ts(started - timedelta(seconds=20))}
    if owner is not None:
        metadata["generateName"] = owner["metadata"]["name"] + "-"
        metadata["ownerReferences"] = _owner(owner)
    host_ip = NODE_IPS[node]
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": metadata,
        "spec": {**_pod_spec_defaults(spec), "nodeName": node},
        "status": {"phase": "Running", "conditions": conditions, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                   "podIP": ip, "podIPs": [{"ip": ip}], "startTime": _ts(started - timedelta(seconds=15)),
                   "containerStatuses": statuses, "qosClass": "Burstable"},
    }


def _pod(store: Store, **fields: Any) -> dict[str, Any]:
    return store.apply(_pod_object(**fields))


def _pod_metrics(pod: dict[str, Any], usage: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """What the kubelet reported for ``pod``: per container (nanocores, working-set bytes)."""
    meta = pod["metadata"]
    return {"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": meta.get("labels") or {}},
            "timestamp": meta["creationTimestamp"], "window": "15s",
            "containers": [{"name": c["name"], "usage": {"cpu": f"{usage[c['name']][0]}n",
                                                         "memory": f"{usage[c['name']][1] // 1024}Ki"}}
                           for c in pod["spec"]["containers"]]}


def _deployment_status(replicas: int, replica_set: str, created: datetime, rolled: datetime) -> dict[str, Any]:
    return {
        "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
             "message": "Deployment has minimum availability.",
             "lastUpdateTime": _ts(created), "lastTransitionTime": _ts(created)},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "message": f'ReplicaSet "{replica_set}" has successfully progressed.',
             "lastUpdateTime": _ts(rolled), "lastTransitionTime": _ts(created)},
        ],
    }


def _replica_set(store: Store, deployment: dict[str, Any], *, revision: int, image: str, replicas: int,
                 created: datetime) -> tuple[dict[str, Any], str]:
    pod_hash = template_hash(image)
    name = f"{deployment['metadata']['name']}-{pod_hash}"
    template = yaml.safe_load(yaml.safe_dump(deployment["spec"]["template"]))
    template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    template["spec"]["containers"][0]["image"] = image
    selector = {"matchLabels": {**deployment["spec"]["selector"]["matchLabels"], "pod-template-hash": pod_hash}}
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
    return rs, pod_hash


def _node(store: Store, name: str, index: int, created: datetime, now: datetime) -> dict[str, Any]:
    capacity = {"cpu": "4", "memory": "16073528Ki", "pods": "58", "ephemeral-storage": "83873772Ki"}
    allocatable = {"cpu": "3920m", "memory": "15056696Ki", "pods": "58", "ephemeral-storage": "76224326324"}
    heartbeat = _ts(now - timedelta(seconds=70 + 40 * index))  # kubelets report status every few minutes
    conditions = [{"type": t, "status": "False", "reason": r, "message": m, "lastHeartbeatTime": heartbeat,
                   "lastTransitionTime": _ts(created)}
                  for t, r, m in (("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                                  ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                                  ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))]
    conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                       "message": "kubelet is posting ready status", "lastHeartbeatTime": heartbeat,
                       "lastTransitionTime": _ts(created)})
    node = store.apply({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "creationTimestamp": _ts(created),
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                                "node-role.kubernetes.io/worker": "", "node.kubernetes.io/instance-type": "m6i.xlarge",
                                "topology.kubernetes.io/zone": f"us-east-1{'abc'[index % 3]}",
                                "eks.amazonaws.com/nodegroup": "production-workers"}},
        "spec": {"providerID": f"aws:///us-east-1{'abc'[index % 3]}/i-0{_hash(name)}"},
        "status": {"capacity": capacity, "allocatable": allocatable, "conditions": conditions,
                   "addresses": [{"type": "InternalIP", "address": NODE_IPS[name]},
                                 {"type": "Hostname", "address": name}],
                   "nodeInfo": {"machineID": _hash(name) * 3, "systemUUID": _hash(name + "uuid") * 3,
                                "bootID": _hash(name + "boot") * 3, "kernelVersion": "6.1.112-124.190.amzn2023.x86_64",
                                "osImage": "Amazon Linux 2023.6.20241121", "containerRuntimeVersion": "containerd://1.7.23",
                                "kubeletVersion": "v1.32.0-eks-aeac579", "kubeProxyVersion": "v1.32.0-eks-aeac579",
                                "operatingSystem": "linux", "architecture": "amd64"}},
    })
    store.apply({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
                 "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                 "timestamp": _ts(created), "window": "20s",
                 "usage": {"cpu": f"{612_384_511 + 41_097_233 * index}n", "memory": f"{5_959_684 + 7_316 * index}Ki"}})
    return node


def _involved(involved: dict[str, Any], field_path: str = "") -> dict[str, Any]:
    meta = involved["metadata"]
    reference = {"kind": involved["kind"], "namespace": meta.get("namespace", ""), "name": meta["name"],
                 "uid": meta["uid"], "apiVersion": involved["apiVersion"], "resourceVersion": meta["resourceVersion"]}
    if not reference["namespace"]:
        del reference["namespace"]
    if field_path:
        reference["fieldPath"] = field_path
    return reference


def legacy_event(*, involved: dict[str, Any], reason: str, message: str, component: str, when: datetime,
                 field_path: str = "", event_type: str = "Normal", count: int = 1, host: str = "",
                 first: datetime | None = None) -> dict[str, Any]:
    """An event from client-go's legacy recorder (kubelet, most controllers): count and timestamps,
    ``source.component``, ``eventTime: null``. Node events are stored in namespace ``default``."""
    source = {"component": component, **({"host": host} if host else {})}
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": event_name(involved["metadata"]["name"], first or when),
                         "namespace": involved["metadata"].get("namespace") or "default"},
            "involvedObject": _involved(involved, field_path), "reason": reason, "message": message,
            "source": source, "firstTimestamp": _ts(first or when), "lastTimestamp": _ts(when), "count": count,
            "type": event_type, "eventTime": None, "reportingComponent": component, "reportingInstance": host}


def new_api_event(*, involved: dict[str, Any], reason: str, message: str, controller: str, instance: str,
                  action: str, when: datetime, event_type: str = "Normal") -> dict[str, Any]:
    """An event from the events.k8s.io recorder (the scheduler, newer controllers), read through core/v1:
    ``source: {}``, no timestamps, no ``count``, ``eventTime`` with microseconds."""
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": event_name(involved["metadata"]["name"], when),
                         "namespace": involved["metadata"].get("namespace") or "default"},
            "involvedObject": _involved(involved), "reason": reason, "message": message, "source": {},
            "firstTimestamp": None, "lastTimestamp": None, "type": event_type, "eventTime": _micro(when),
            "action": action, "reportingComponent": controller, "reportingInstance": instance}


def _rollout_events(pod: dict[str, Any], image: str, scheduled: datetime) -> list[dict[str, Any]]:
    """The four events a pod's start leaves: Scheduled (new API), Pulled, Created, Started (kubelet)."""
    name, node = pod["metadata"]["name"], pod["spec"]["nodeName"]
    container = pod["spec"]["containers"][0]["name"]
    kubelet = {"involved": pod, "component": "kubelet", "host": node, "field_path": f"spec.containers{{{container}}}"}
    return [
        new_api_event(involved=pod, reason="Scheduled", action="Binding", controller="default-scheduler",
                      instance=f"default-scheduler-{NODE_NAMES[0]}", when=scheduled,
                      message=f"Successfully assigned {pod['metadata']['namespace']}/{name} to {node}"),
        legacy_event(**kubelet, reason="Pulled", when=scheduled + timedelta(seconds=2),
                     message=f'Container image "{image}" already present on machine'),
        legacy_event(**kubelet, reason="Created", when=scheduled + timedelta(seconds=2, milliseconds=300),
                     message=f"Created container: {container}"),
        legacy_event(**kubelet, reason="Started", when=scheduled + timedelta(seconds=3),
                     message=f"Started container {container}"),
    ]


APP_POOL_SIZE = 3  # connections per pod: x the HPA's maxReplicas 10 fits the sandbox's 37 usable slots


def seed_production(store: Store, *, namespace: str = "production", deployment: str = "app-backend",
                    image: str = "ghcr.io/ytvideocreator/app-backend:1.42.0",
                    previous_image: str = "ghcr.io/ytvideocreator/app-backend:1.41.3", replicas: int = 3,
                    jwt_private_pem: str, jwt_public_pem: str, role_arn: str, now: datetime) -> None:
    """Write a healthy production into ``store``: everything the runbook's investigation steps read."""
    created = now - timedelta(days=3)
    rolled = now - timedelta(minutes=45)  # within the API server's 1 h event TTL: its events are still there
    for ns in ("default", namespace, "ingress-nginx", "kube-system", "runbook-checks"):
        store.apply({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns},
                                  "creationTimestamp": _ts(created - timedelta(days=30))},
                     "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    nodes = [_node(store, node, index, created - timedelta(days=30), now) for index, node in enumerate(NODE_NAMES)]
    # The node controller re-registers nodes when kube-controller-manager restarts: a Normal event on the
    # Node, which the API server keeps in namespace default (node events never appear in production's).
    store.apply(legacy_event(involved=nodes[0], reason="RegisteredNode", component="node-controller",
                             message=f"Node {NODE_NAMES[0]} event: Registered Node {NODE_NAMES[0]} in Controller",
                             when=now - timedelta(minutes=38)))

    labels = {"app": deployment}
    app = _container("app", image, port=8000, cpu=("250m", "1"), memory=("512Mi", "1Gi"))
    app["env"] = [{"name": "JWT_KEYS_DIR", "value": "/etc/jwt"},
                  {"name": "DATABASE_POOL_SIZE", "value": str(APP_POOL_SIZE)}]
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
        "status": _deployment_status(replicas, f"{deployment}-{template_hash(image)}", created, rolled),
    })
    _replica_set(store, deploy, revision=6, image=previous_image, replicas=0, created=created)
    current, pod_hash = _replica_set(store, deploy, revision=7, image=image, replicas=replicas, created=rolled)
    pod_spec = current["spec"]["template"]["spec"]
    store.apply(legacy_event(involved=deploy, reason="ScalingReplicaSet", component="deployment-controller",
                             message=f"Scaled up replica set {current['metadata']['name']} from 0 to {replicas}",
                             when=rolled))
    pods = []
    for index in range(replicas):
        pod = _pod(store, namespace=namespace, name=f"{current['metadata']['name']}-{_suffix(f'{pod_hash}-{index}')}",
                   labels={**labels, "pod-template-hash": pod_hash}, spec=pod_spec,
                   node=NODE_NAMES[index % len(NODE_NAMES)], ip=f"10.0.{index % 3 + 1}.{100 + index}",
                   started=rolled + timedelta(seconds=30), owner=current)
        pods.append(pod)
        # Idle: about 80m of the 250m request (32%, below the HPA's 70% target) and 300 MiB of 1 GiB.
        store.apply(_pod_metrics(pod, {"app": (78_412_903 + 2_731_118 * index, (301_212 + 3_876 * index) * 1024)}))
        for event in _rollout_events(pod, image, rolled + timedelta(seconds=5 + index)):
            store.apply(event)

    store.apply({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": deployment, "namespace": namespace, "creationTimestamp": _ts(created)},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
                 "minReplicas": 3, "maxReplicas": 10,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]},
        # At rest: 32% of the request recommends 2 replicas, below minReplicas 3, so the HPA holds 3
        # and says ScalingLimited True TooFewReplicas, the normal idle state.
        "status": {"observedGeneration": 1, "currentReplicas": replicas, "desiredReplicas": replicas,
                   "lastScaleTime": _ts(rolled),
                   "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 32, "averageValue": "81m"}}}],
                   "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
                                   "message": "recommended size matches current size", "lastTransitionTime": _ts(created)},
                                  {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
                                   "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)",
                                   "lastTransitionTime": _ts(created)},
                                  {"type": "ScalingLimited", "status": "True", "reason": "TooFewReplicas",
                                   "message": "the desired replica count is less than the minimum replica count",
                                   "lastTransitionTime": _ts(rolled)}]},
    })

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
        "status": _deployment_status(1, f"{name}-{template_hash(container['image'])}", created, created),
    })
    rs, pod_hash = _replica_set(store, deploy, revision=1, image=container["image"], replicas=1, created=created)
    pod = _pod(store, namespace=namespace, name=f"{rs['metadata']['name']}-{_suffix(name)}",
               labels={**labels, "pod-template-hash": pod_hash}, spec=rs["spec"]["template"]["spec"],
               node=NODE_NAMES[0], ip="10.0.1.50", started=created + timedelta(seconds=30), owner=rs)
    store.apply(_pod_metrics(pod, {"controller": (3_918_245, 97_628_160)}))


def _stateful_pod(store: Store, namespace: str, name: str, app: str, image: str, port: int, created: datetime) -> None:
    container = _container(app, image, port=port, cpu=("250m", "2"), memory=("256Mi", "2Gi"))
    container["ports"][0]["name"] = app[:15]
    node = NODE_NAMES[1 if app == "postgres" else 2]
    pod = _pod(store, namespace=namespace, name=name, labels={"app": app, "statefulset.kubernetes.io/pod-name": name},
               spec=_template({}, [container])["spec"], node=node,
               ip=f"10.0.{2 if app == 'postgres' else 3}.{60 if app == 'postgres' else 61}",
               started=created + timedelta(seconds=40), owner=None)
    usage = (21_473_092, 181_334_016) if app == "postgres" else (6_104_377, 11_620_352)
    store.apply(_pod_metrics(pod, {app: usage}))


#: The shipped manifests (the CronJob's kustomization); the sandbox enforces their RBAC.
KUSTOMIZATION = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
_IDENTITY_KINDS = ("Namespace", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


def load_rbac(store: Store, directory: Path = KUSTOMIZATION) -> list[dict[str, Any]]:
    """Apply the suite's identity from the shipped kustomization: every Namespace, ServiceAccount,
    (Cluster)Role and (Cluster)RoleBinding document of the files its ``resources`` list."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    stored = []
    for name in kustomization.get("resources") or []:
        with open(directory / name, encoding="utf-8") as handle:
            stored += [store.apply(doc) for doc in yaml.safe_load_all(handle)
                       if doc and doc.get("kind") in _IDENTITY_KINDS]
    return stored


def load_manifests(store: Store, path: Path | str) -> list[dict[str, Any]]:
    """Apply every document of the YAML file at ``path``; returns what was stored."""
    with open(path, encoding="utf-8") as handle:
        return [store.apply(doc) for doc in yaml.safe_load_all(handle) if doc]


def scale_deployment(store: Any, *, replicas: int, now: datetime, namespace: str = "production",
                     deployment: str = "app-backend", by_hand: bool = False) -> None:
    """Run ``replicas`` pods of the deployment's current ReplicaSet, each with its kubelet report and the
    four events of its start, as a large production would (the scale benchmark seeds 20,000).
    ``by_hand``: a ``kubectl scale`` (the deployment controller's answer to it): the new pods start now,
    and the HPA's bounds stay; otherwise the pods are as old as the others, and the HPA's bounds widen
    to a production that large.

    Written with ``store.apply_many``, which validates one object per shape: seconds, not minutes.
    """
    deploy = store.get("apps/v1", "Deployment", namespace, deployment)
    current = max((rs for rs in store.list("apps/v1", "ReplicaSet", namespace)
                   if any(o["uid"] == deploy["metadata"]["uid"] for o in rs["metadata"].get("ownerReferences") or [])),
                  key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))
    pod_hash = current["metadata"]["labels"]["pod-template-hash"]
    existing = [p for p in store.items(resources.by_kind("v1", "Pod"), namespace)[0]
                if (p["metadata"].get("labels") or {}).get("pod-template-hash") == pod_hash]
    started = (now if by_hand or not existing
               else datetime.fromisoformat(existing[0]["status"]["startTime"].replace("Z", "+00:00")))
    image = current["spec"]["template"]["spec"]["containers"][0]["image"]
    names = {p["metadata"]["name"] for p in existing}
    new = []
    index = len(existing) - 1
    while len(names) < replicas:  # the next free names: a pod deleted by a scale-down leaves a gap
        index += 1
        name = f"{current['metadata']['name']}-{random_suffix() if by_hand else _suffix(f'{pod_hash}-{index}')}"
        if name in names:
            continue
        names.add(name)
        new.append(_pod_object(namespace=namespace, name=name, labels={"app": deployment, "pod-template-hash": pod_hash},
                               spec=current["spec"]["template"]["spec"], node=NODE_NAMES[index % len(NODE_NAMES)],
                               ip=f"10.{index // 65025 % 100}.{index // 255 % 255}.{index % 255 + 1}",
                               started=started, owner=current))
    store.apply_many(new)
    pods = resources.by_kind("v1", "Pod")
    stored = [store.read(pods, namespace, p["metadata"]["name"]) for p in new]  # uids for the events
    store.apply_many(_pod_metrics(pod, {"app": (70_000_000 + 97_331 * (n % 200), (290_000 + 37 * (n % 500)) * 1024)})
                     for n, pod in enumerate(stored))
    store.apply_many(event for n, pod in enumerate(stored)
                     for event in _rollout_events(pod, image, started - timedelta(seconds=25, microseconds=n)))
    for obj, replica_path in ((deploy, ("spec",)), (current, ("spec",))):
        obj = store.get(obj["apiVersion"], obj["kind"], namespace, obj["metadata"]["name"])
        obj["spec"]["replicas"] = replicas
        for counter in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "fullyLabeledReplicas"):
            if counter in obj.get("status", {}):
                obj["status"][counter] = replicas
        store.apply(obj)
    hpa = store.get("autoscaling/v2", "HorizontalPodAutoscaler", namespace, deployment)
    if hpa is not None and not by_hand:
        hpa["spec"]["maxReplicas"] = max(hpa["spec"]["maxReplicas"], 2 * replicas)
        hpa["spec"]["minReplicas"] = min(hpa["spec"].get("minReplicas", 1), replicas)
        hpa["status"]["currentReplicas"] = hpa["status"]["desiredReplicas"] = replicas
        store.apply(hpa)
