"""The sandbox's Kubernetes API as kubectl 1.32 and the Python client see it (read-only uses).

One seeded server for the module; tests here do not change it (writes live in test_kube_writes.py).
"""

import json
import time

import pytest

from sandbox.kubeapi import KubeAPIServer
from tests.sandbox.kube_harness import JWT_PRIVATE, ROLE_ARN

pytestmark = pytest.mark.xdist_group("kube-read")


def test_the_public_surface_is_the_server_class():
    import sandbox.kubeapi

    assert sandbox.kubeapi.__all__ == ["KubeAPIServer"]


def test_server_starts_and_stops_cleanly(tmp_path):
    """How fast it starts is a bench/ figure (the sandbox's ready time), never a timed test."""
    import threading

    before = set(threading.enumerate())
    server = KubeAPIServer(state_dir=tmp_path).start()
    try:
        assert server.url.startswith("https://127.0.0.1:")
        assert server.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
    finally:
        server.stop()
    assert set(threading.enumerate()) <= before


def test_kubectl_lists_the_production_pods(kube):
    result = kube.kubectl("get", "pods", "-n", "production", "-o", "name")
    assert result.returncode == 0, result.stderr
    pods = result.stdout.split()
    assert len([p for p in pods if p.startswith("pod/app-backend-")]) == 3
    assert {"pod/postgres-0", "pod/redis-0"} <= set(pods)


@pytest.mark.parametrize(("resource", "expected"), [
    ("deploy", "deployment.apps/app-backend"),
    ("hpa", "horizontalpodautoscaler.autoscaling/app-backend"),
    ("ev", "event/app-backend."),
    ("nodes", "node/ip-10-0-1-11.ec2.internal"),
    ("ingress", "ingress.networking.k8s.io/app-backend"),
    ("svc", "service/app-backend"),
    ("sa", "serviceaccount/app-backend"),
    ("rs", "replicaset.apps/app-backend-"),
])
def test_kubectl_gets_each_seeded_resource_by_its_short_name(kube, resource, expected):
    result = kube.kubectl("get", resource, "-n", "production", "-o", "name")
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_kubectl_top_pods_shows_every_running_pod_rounding_nanocores_up_and_kibibytes_down(kube):
    result = kube.kubectl("top", "pods", "-n", "production")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:]}
    assert len(rows) == 5 and {"postgres-0", "redis-0"} <= set(rows), result.stdout
    first = min(name for name in rows if name.startswith("app-backend-"))
    assert rows[first] == ["79m", "294Mi"], result.stdout  # 78412903n and 301212Ki as metrics-server sends them


def test_kubectl_rollout_status_says_the_deployment_rolled_out(kube):
    result = kube.kubectl("rollout", "status", "deployment/app-backend", "-n", "production", "--timeout=10s")
    assert result.returncode == 0, result.stderr
    assert 'deployment "app-backend" successfully rolled out' in result.stdout
    assert result.stderr == ""


def test_kubectl_logs_of_a_deployment_tails_the_log_source(kube):
    result = kube.kubectl("logs", "deployment/app-backend", "-n", "production", "--tail=2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[-1].endswith("/app current line 5"), result.stdout


def test_kubectl_logs_previous_asks_the_log_source_for_the_previous_container(kube):
    result = kube.kubectl("logs", "redis-0", "-n", "production", "--previous", "--tail=1")
    assert result.stdout == "redis-0/redis previous line 5\n", result.stderr


def test_kubectl_describe_deployment_shows_the_limits(kube):
    result = kube.kubectl("describe", "deployment", "app-backend", "-n", "production")
    assert result.returncode == 0, result.stderr
    limits = result.stdout.split("Limits:")[1].split("Requests:")[0].split()
    assert limits == ["cpu:", "1", "memory:", "1Gi"]


def test_python_client_reads_pods_deployment_and_secret(kube):
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(kube.kubeconfig), context="runbook-checks")
    try:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        pods = core.list_namespaced_pod("production", label_selector="app=app-backend").items
        deployment = apps.read_namespaced_deployment("app-backend", "production")
        secret = core.read_namespaced_secret("jwt-keys", "production")
        account = core.read_namespaced_service_account("app-backend", "production")
    finally:
        api.close()
    assert [p.status.phase for p in pods] == ["Running"] * 3
    assert all(p.status.container_statuses[0].restart_count == 0 for p in pods)
    container = deployment.spec.template.spec.containers[0]
    assert container.resources.limits == {"cpu": "1", "memory": "1Gi"}
    assert deployment.status.ready_replicas == deployment.spec.replicas == 3
    assert deployment.status.observed_generation == deployment.metadata.generation
    import base64
    assert base64.b64decode(secret.data["private"]).decode() == JWT_PRIVATE
    assert account.metadata.annotations["eks.amazonaws.com/role-arn"] == ROLE_ARN


def test_the_seed_has_two_revisions_of_replica_sets_owned_by_the_deployment(kube):
    deployment = kube.server.store.get("apps/v1", "Deployment", "production", "app-backend")
    sets = [rs for rs in kube.server.store.list("apps/v1", "ReplicaSet", "production")
            if rs["metadata"]["ownerReferences"][0]["uid"] == deployment["metadata"]["uid"]]
    revisions = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in sets}
    assert set(revisions) == {"6", "7"}
    assert revisions["7"]["spec"]["replicas"] == 3 and revisions["6"]["spec"]["replicas"] == 0
    assert revisions["6"]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.41.3")


def test_pagination_with_limit_and_continue_returns_every_item_once(kube):
    seen, token, remaining = [], "", []
    while True:
        params = {"limit": 4, **({"continue": token} if token else {})}
        page = kube.request("GET", "/api/v1/events", params=params).json()
        seen += [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in page["items"]]
        token = page["metadata"].get("continue", "")
        if not token:
            break
        remaining.append(page["metadata"]["remainingItemCount"])
    everything = kube.request("GET", "/api/v1/events").json()["items"]
    assert sorted(seen) == sorted({(i["metadata"]["namespace"], i["metadata"]["name"]) for i in everything})
    assert len(seen) == len(set(seen)) == 14
    assert remaining == [10, 6, 2]


@pytest.mark.parametrize(("selector", "count"), [
    ("app=app-backend", 3),
    ("app==app-backend", 3),
    ("app!=app-backend", 2),
    ("app in (redis,postgres)", 2),
    ("app notin (redis,postgres)", 3),
    ("pod-template-hash", 3),
    ("!pod-template-hash", 2),
    ("app=app-backend,pod-template-hash", 3),
])
def test_label_selectors_filter_the_pods(kube, selector, count):
    page = kube.request("GET", "/api/v1/namespaces/production/pods", params={"labelSelector": selector}).json()
    assert page["kind"] == "PodList" and page["apiVersion"] == "v1"
    assert len(page["items"]) == count


@pytest.mark.parametrize(("path", "selector", "count"), [
    ("/api/v1/pods", "status.phase!=Running", 0),
    ("/api/v1/pods", "metadata.namespace=ingress-nginx", 1),
    ("/api/v1/namespaces/production/pods", "metadata.name=redis-0", 1),
    ("/api/v1/namespaces/production/events", "involvedObject.kind=Deployment,reason=ScalingReplicaSet", 1),
    ("/api/v1/namespaces/production/events", "type=Warning", 0),
])
def test_field_selectors_filter_across_and_within_namespaces(kube, path, selector, count):
    page = kube.request("GET", path, params={"fieldSelector": selector}).json()
    assert len(page["items"]) == count


def test_an_unsupported_field_selector_is_a_bad_request(kube):
    response = kube.request("GET", "/api/v1/pods", params={"fieldSelector": "spec.containers=x"})
    assert response.status_code == 400
    assert response.json()["message"] == "field label not supported: spec.containers"


def test_discovery_serves_short_names_and_subresources_as_kubectl_needs(kube):
    core = kube.request("GET", "/api/v1/").json()
    resources = {r["name"]: r for r in core["resources"]}
    assert core["groupVersion"] == "v1"
    assert resources["pods"]["shortNames"] == ["po"] and resources["pods"]["singularName"] == "pod"
    assert "shortNames" not in resources["pods/log"] and resources["pods/log"]["verbs"] == ["get"]
    apps = {r["name"]: r for r in kube.request("GET", "/apis/apps/v1").json()["resources"]}
    assert apps["deployments/scale"]["kind"] == "Scale" and apps["deployments/scale"]["group"] == "autoscaling"
    groups = {g["name"] for g in kube.request("GET", "/apis").json()["groups"]}
    assert {"apps", "autoscaling", "networking.k8s.io", "metrics.k8s.io", "rbac.authorization.k8s.io"} <= groups


def test_version_has_the_nine_string_fields_the_python_client_requires(kube):
    version = kube.request("GET", "/version/").json()
    assert len(version) == 9 and all(isinstance(v, str) for v in version.values())
    assert (version["major"], version["minor"]) == ("1", "32")


def test_a_request_without_a_token_is_unauthorized(kube):
    response = kube.request("GET", "/api/v1/namespaces/production/pods", token=None)
    assert response.status_code == 401
    assert response.json()["reason"] == "Unauthorized"
    assert kube.request("GET", "/version", token="not-a-token").status_code == 401


def test_a_protobuf_body_is_refused_with_a_hint_to_use_kubectl_apply(kube):
    response = kube.request("POST", "/api/v1/namespaces/production/configmaps", content=b"k8s\x00",
                            headers={"Content-Type": "application/vnd.kubernetes.protobuf"})
    assert response.status_code == 415
    assert "kubectl apply" in response.json()["message"]


def test_a_watch_from_the_current_resource_version_with_no_write_ends_empty_at_its_timeout(kube):
    current = kube.request("GET", "/api/v1/namespaces/production/pods").json()["metadata"]["resourceVersion"]
    started = time.perf_counter()
    response = kube.request("GET", "/api/v1/namespaces/production/pods",
                            params={"watch": "1", "timeoutSeconds": "0.2", "resourceVersion": current})
    assert response.status_code == 200 and response.content == b""
    assert time.perf_counter() - started < 2


def test_the_audit_endpoint_serves_the_trail_to_admins_only(kube):
    kube.request("GET", "/api/v1/namespaces/production/pods/redis-0")
    records = kube.request("GET", "/sandbox/audit").json()["items"]
    assert {"user": "sandbox-admin", "verb": "get", "resource": "pods", "subresource": "",
            "namespace": "production", "name": "redis-0", "status_code": 200} in records
    from tests.sandbox.kube_harness import SUITE_TOKEN
    assert kube.request("GET", "/sandbox/audit", token=SUITE_TOKEN).status_code == 403


def test_listing_500_pods_answers_every_one_in_one_page(tmp_path):
    """How long it takes is measured in bench/ (bench/cluster.py), never as a timed test."""
    server = KubeAPIServer(state_dir=tmp_path).start()
    try:
        server.add_token("t", "admin", ["system:masters"])
        pod = json.loads(json.dumps(next(p for p in [_template_pod()])))
        server.store.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "load"}})
        for n in range(500):
            pod["metadata"]["name"] = f"pod-{n:03d}"
            server.store.apply(pod)
        import httpx, ssl
        context = ssl.create_default_context(cafile=str(server.ca_file))
        with httpx.Client(base_url=server.url, verify=context, headers={"Authorization": "Bearer t"}) as client:
            items = client.get("/api/v1/namespaces/load/pods").json()["items"]
    finally:
        server.stop()
    assert sorted(item["metadata"]["name"] for item in items) == [f"pod-{n:03d}" for n in range(500)]


def _template_pod():
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "load", "labels": {"app": "load"}},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.36",
                                     "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]},
            "status": {"phase": "Running"}}


def test_kubectl_get_prints_the_ready_and_status_columns_on_call_reads(kube):
    result = kube.kubectl("get", "pods", "-n", "production", "-l", "app=redis")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row.split()[:4] == ["redis-0", "1/1", "Running", "0"]
    deployments = kube.kubectl("get", "deploy", "app-backend", "-n", "production").stdout.splitlines()
    assert deployments[1].split()[:4] == ["app-backend", "3/3", "3", "3"]
