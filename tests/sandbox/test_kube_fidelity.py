"""The sandbox's Kubernetes API answers as a real kube-apiserver and metrics-server do.

Each test pins one fact of shared/KUBERNETES.md (field selectors, pagination, omitted zero
counters, event shapes, metrics, names, pod status fields). The module has its own seeded server;
tests that write use objects of their own, so the seeded production stays as it was.
"""

import json
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from sandbox.cluster import NODE_IPS, NODE_NAMES
from sandbox.kubeapi.store import NAME_ALPHABET, ObjectStore
from tests.sandbox.kube_harness import SUITE_TOKEN

pytestmark = pytest.mark.xdist_group("kube-fidelity")

PODS = "/api/v1/namespaces/production/pods"
EVENTS = "/api/v1/namespaces/production/events"
POD_METRICS = "/apis/metrics.k8s.io/v1beta1/namespaces/production/pods"
GENERATED = re.compile(f"^[{NAME_ALPHABET}]+$")


def _get(kube, path, **params):
    response = kube.request("GET", path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _app_pods(kube):
    return _get(kube, PODS, labelSelector="app=app-backend")["items"]


# -- field selectors ------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "selector", "count"), [
    (PODS, "spec.hostNetwork=false", 5),  # absent from every pod's JSON, still "false"
    (PODS, "spec.hostNetwork=true", 0),
    (PODS, "status.podIPs=10.0.1.100", 1),
    (PODS, "spec.serviceAccountName=app-backend,status.phase=Running", 3),
    ("/api/v1/nodes", "spec.unschedulable=false", 3),
    ("/api/v1/nodes", "spec.unschedulable!=false", 0),
    (EVENTS, "source=kubelet", 9),  # Pulled, Created, Started of three pods
    (EVENTS, "source=default-scheduler", 3),  # new-API events: source is {}, reportingComponent matches
    (EVENTS, "reportingComponent=default-scheduler,type=Normal", 3),
    ("/api/v1/namespaces/production/secrets", "type=Opaque", 1),
    ("/apis/apps/v1/namespaces/production/replicasets", "status.replicas=0", 1),
    ("/apis/events.k8s.io/v1/namespaces/production/events", "regarding.kind=Deployment", 1),
    ("/apis/events.k8s.io/v1/namespaces/production/events", "reportingController=kubelet", 9),
    (POD_METRICS, "metadata.name=redis-0", 1),
    (POD_METRICS, "spec.nodeName=ip-10-0-1-11.ec2.internal", 0),  # metrics-server: matches nothing, no 400
])
def test_field_selectors_match_as_the_real_api_server_computes_the_fields(kube, path, selector, count):
    assert len(_get(kube, path, fieldSelector=selector)["items"]) == count


@pytest.mark.parametrize(("path", "selector", "message"), [
    ("/api/v1/nodes", "metadata.namespace=default", "field label not supported: metadata.namespace"),
    (PODS, "status.hostIP=10.0.1.11", "field label not supported: status.hostIP"),
    (EVENTS, "involvedObject.labels=x", "field label not supported: involvedObject.labels"),
    ("/apis/apps/v1/namespaces/production/deployments", "status.replicas=3",
     '"status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("/apis/autoscaling/v2/namespaces/production/horizontalpodautoscalers", "spec.maxReplicas=10",
     '"spec.maxReplicas" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("/apis/events.k8s.io/v1/namespaces/production/events", "source=kubelet", "field label not supported: source"),
])
def test_an_unsupported_field_selector_is_a_400_with_the_kinds_own_message(kube, path, selector, message):
    response = kube.request("GET", path, params={"fieldSelector": selector})
    assert response.status_code == 400
    assert (response.json()["reason"], response.json()["message"]) == ("BadRequest", message)


# -- lists and pagination -------------------------------------------------------------------------

def test_remaining_item_count_is_sent_only_when_the_list_has_no_selector(kube):
    plain = _get(kube, PODS, limit=2)["metadata"]
    selected = _get(kube, PODS, limit=2, labelSelector="app=app-backend")["metadata"]
    assert plain["remainingItemCount"] == 3 and plain["continue"]
    assert selected["continue"] and "remainingItemCount" not in selected


def test_a_selective_list_may_end_with_an_empty_last_page_as_etcd_paging_does(kube):
    pages, token = [], ""
    while True:
        page = _get(kube, PODS, limit=3, labelSelector="app=app-backend", **({"continue": token} if token else {}))
        pages.append(len(page["items"]))
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert pages == [3, 0]  # three matches, then the keys of postgres-0 and redis-0, which do not


def test_later_pages_are_the_snapshot_of_the_first_pages_moment(kube):
    first = _get(kube, "/api/v1/namespaces/runbook-checks/configmaps")  # make room: a namespace of our own
    assert first["items"] == []
    for name in ("snap-a", "snap-b", "snap-c"):
        _create_configmap(kube, name, "before")
    page1 = _get(kube, "/api/v1/namespaces/runbook-checks/configmaps", limit=1)
    _create_configmap(kube, "snap-bb", "after")  # lands between the first and the last
    kube.request("DELETE", "/api/v1/namespaces/runbook-checks/configmaps/snap-c")
    page2 = _get(kube, "/api/v1/namespaces/runbook-checks/configmaps", limit=5, **{"continue": page1["metadata"]["continue"]})
    try:
        assert [i["metadata"]["name"] for i in page1["items"] + page2["items"]] == ["snap-a", "snap-b", "snap-c"]
        assert page2["metadata"]["resourceVersion"] == page1["metadata"]["resourceVersion"]
        assert "continue" not in page2["metadata"]
    finally:
        for name in ("snap-a", "snap-b", "snap-bb"):
            kube.request("DELETE", f"/api/v1/namespaces/runbook-checks/configmaps/{name}")


def test_a_compacted_continue_token_is_410_expired_with_a_fresh_token_that_continues(kube):
    page1 = _get(kube, PODS, limit=2)
    kube.server.store.compact()
    expired = kube.request("GET", PODS, params={"limit": 2, "continue": page1["metadata"]["continue"]})
    status = expired.json()
    assert expired.status_code == 410
    assert (status["reason"], status["code"], status["kind"]) == ("Expired", 410, "Status")
    assert status["message"].startswith("The provided continue parameter is too old to display a consistent list result.")
    rest = _get(kube, PODS, limit=10, **{"continue": status["metadata"]["continue"]})
    names = [p["metadata"]["name"] for p in page1["items"] + rest["items"]]
    assert len(names) == len(set(names)) == 5


def test_continue_with_a_resource_version_is_a_bad_request(kube):
    token = _get(kube, PODS, limit=1)["metadata"]["continue"]
    response = kube.request("GET", PODS, params={"limit": 1, "continue": token, "resourceVersion": "5"})
    assert response.status_code == 400
    assert response.json()["message"] == "specifying resource version is not allowed when using continue"
    assert kube.request("GET", PODS, params={"limit": 1, "continue": token, "resourceVersion": "0"}).status_code == 200


def test_a_forged_continue_token_is_a_bad_request(kube):
    response = kube.request("GET", PODS, params={"limit": 1, "continue": "bm90LWEtdG9rZW4"})
    assert response.status_code == 400 and response.json()["message"].startswith("invalid continue token")


# -- zero values, names, always-present fields ----------------------------------------------------

def test_zero_status_counters_are_omitted_as_go_omitempty_does(kube):
    sets = _get(kube, "/apis/apps/v1/namespaces/production/replicasets", labelSelector="app=app-backend")["items"]
    old = next(rs for rs in sets if rs["spec"]["replicas"] == 0)
    assert old["status"] == {"replicas": 0, "observedGeneration": 1}
    path = "/apis/apps/v1/namespaces/ingress-nginx/deployments/ingress-nginx-controller/status"
    response = kube.request("PATCH", path, content=json.dumps({"status": {"availableReplicas": 0, "readyReplicas": 0}}),
                            headers={"Content-Type": "application/merge-patch+json"})
    try:
        assert response.status_code == 200, response.text
        status = response.json()["status"]
        assert "availableReplicas" not in status and "readyReplicas" not in status and status["replicas"] == 1
    finally:
        kube.request("PATCH", path, content=json.dumps({"status": {"availableReplicas": 1, "readyReplicas": 1}}),
                     headers={"Content-Type": "application/merge-patch+json"})


def test_generated_names_and_pod_template_hashes_use_the_real_alphabet(kube):
    for pod in _app_pods(kube):
        prefix, template_hash, suffix = pod["metadata"]["name"].rsplit("-", 2)
        assert prefix == "app-backend" and len(suffix) == 5
        assert GENERATED.match(template_hash) and GENERATED.match(suffix), pod["metadata"]["name"]
        assert pod["metadata"]["labels"]["pod-template-hash"] == template_hash
    response = kube.request("POST", "/api/v1/namespaces/runbook-checks/configmaps",
                            json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}})
    name = response.json()["metadata"]["name"]
    kube.request("DELETE", f"/api/v1/namespaces/runbook-checks/configmaps/{name}")
    assert response.status_code == 201 and re.fullmatch(f"gen-[{NAME_ALPHABET}]{{5}}", name), name


def test_each_pods_host_ip_is_its_nodes_address(kube):
    nodes = {n["metadata"]["name"]: next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP")
             for n in _get(kube, "/api/v1/nodes")["items"]}
    pods = _get(kube, PODS)["items"]
    assert nodes == NODE_IPS
    assert {p["status"]["hostIP"] for p in pods} == set(NODE_IPS.values())
    for pod in pods:
        assert pod["status"]["hostIP"] == nodes[pod["spec"]["nodeName"]]
        assert pod["status"]["hostIPs"] == [{"ip": pod["status"]["hostIP"]}]


def test_container_statuses_always_hold_last_state_and_the_other_fields_go_always_writes(kube):
    seeded = _app_pods(kube)[0]["status"]["containerStatuses"][0]
    assert seeded["lastState"] == {} and seeded["restartCount"] == 0
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare-status"},
           "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
    created = kube.request("POST", "/api/v1/namespaces/runbook-checks/pods", json=pod)
    assert created.status_code == 201, created.text
    patched = kube.request("PATCH", "/api/v1/namespaces/runbook-checks/pods/bare-status/status",
                           content=json.dumps({"status": {"phase": "Pending", "containerStatuses": [{"name": "c"}]}}),
                           headers={"Content-Type": "application/merge-patch+json"})
    kube.request("DELETE", "/api/v1/namespaces/runbook-checks/pods/bare-status")
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"]["containerStatuses"] == [
        {"name": "c", "state": {}, "lastState": {}, "ready": False, "restartCount": 0, "image": "", "imageID": ""}]


def test_only_workloads_hpas_and_ingresses_carry_a_generation(kube):
    assert _get(kube, "/apis/apps/v1/namespaces/production/deployments/app-backend")["metadata"]["generation"] == 1
    assert _get(kube, "/apis/autoscaling/v2/namespaces/production/horizontalpodautoscalers/app-backend")["metadata"]["generation"] == 1
    for path in (PODS, EVENTS, "/api/v1/nodes", "/api/v1/namespaces/production/services"):
        assert all("generation" not in item["metadata"] for item in _get(kube, path)["items"]), path


def test_deployment_conditions_name_the_replica_set(kube):
    deployment = _get(kube, "/apis/apps/v1/namespaces/production/deployments/app-backend")
    current = _app_pods(kube)[0]["metadata"]["ownerReferences"][0]["name"]
    progressing = next(c for c in deployment["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["reason"], progressing["message"]) == (
        "NewReplicaSetAvailable", f'ReplicaSet "{current}" has successfully progressed.')


def test_the_idle_hpa_rests_at_min_replicas_with_scaling_limited_too_few_replicas(kube):
    hpa = _get(kube, "/apis/autoscaling/v2/namespaces/production/horizontalpodautoscalers/app-backend")
    conditions = {c["type"]: (c["status"], c["reason"]) for c in hpa["status"]["conditions"]}
    assert hpa["status"]["currentReplicas"] == hpa["spec"]["minReplicas"] == 3
    assert conditions == {"AbleToScale": ("True", "ReadyForNewScale"), "ScalingActive": ("True", "ValidMetricFound"),
                          "ScalingLimited": ("True", "TooFewReplicas")}


# -- events ---------------------------------------------------------------------------------------

def test_kubelet_events_are_legacy_shaped_and_scheduler_events_new_api_shaped(kube):
    events = _get(kube, EVENTS)["items"]
    pulled = next(e for e in events if e["reason"] == "Pulled")
    scheduled = next(e for e in events if e["reason"] == "Scheduled")
    assert pulled["count"] == 1 and pulled["eventTime"] is None and pulled["source"]["component"] == "kubelet"
    assert pulled["firstTimestamp"] and pulled["lastTimestamp"] and pulled["reportingComponent"] == "kubelet"
    assert "count" not in scheduled and scheduled["source"] == {}
    assert scheduled["firstTimestamp"] is None and scheduled["lastTimestamp"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", scheduled["eventTime"])
    assert (scheduled["reportingComponent"], scheduled["action"]) == ("default-scheduler", "Binding")
    for event in events:
        name, _, stamp = event["metadata"]["name"].rpartition(".")
        assert name == event["involvedObject"]["name"] and re.fullmatch(r"[0-9a-f]{16}", stamp), event["metadata"]["name"]


def test_node_events_live_in_namespace_default_never_in_production(kube):
    node_events = _get(kube, "/api/v1/events", fieldSelector="involvedObject.kind=Node")["items"]
    assert node_events and {e["metadata"]["namespace"] for e in node_events} == {"default"}
    assert all("namespace" not in e["involvedObject"] for e in node_events)
    assert _get(kube, EVENTS, fieldSelector="involvedObject.kind=Node")["items"] == []


def test_events_are_served_under_events_k8s_io_v1_in_that_versions_shape(kube):
    page = _get(kube, "/apis/events.k8s.io/v1/namespaces/production/events")
    by_reason = {e["reason"]: e for e in page["items"]}
    assert (page["kind"], page["apiVersion"]) == ("EventList", "events.k8s.io/v1")
    assert len(page["items"]) == len(_get(kube, EVENTS)["items"])
    pulled, scheduled = by_reason["Pulled"], by_reason["Scheduled"]
    assert pulled["regarding"]["kind"] == "Pod" and pulled["note"].startswith("Container image")
    assert pulled["deprecatedCount"] == 1 and pulled["deprecatedSource"] == {"component": "kubelet", "host": pulled["reportingInstance"]}
    assert pulled["reportingController"] == "kubelet" and pulled["eventTime"] is None
    assert "deprecatedCount" not in scheduled and scheduled["deprecatedFirstTimestamp"] is None
    assert "involvedObject" not in pulled and "message" not in pulled


def test_an_event_written_through_events_k8s_io_is_read_through_core_v1(kube):
    now = datetime.now(timezone.utc)
    event = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "redis-0.written-v1"},
             "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "reportingController": "example.com/operator",
             "reportingInstance": "operator-0", "action": "Reconcile", "reason": "Reconciled", "type": "Normal",
             "note": "reconciled", "regarding": {"kind": "Pod", "namespace": "runbook-checks", "name": "redis-0"}}
    created = kube.request("POST", "/apis/events.k8s.io/v1/namespaces/runbook-checks/events", json=event)
    core = kube.request("GET", "/api/v1/namespaces/runbook-checks/events/redis-0.written-v1")
    kube.request("DELETE", "/apis/events.k8s.io/v1/namespaces/runbook-checks/events/redis-0.written-v1")
    assert created.status_code == 201, created.text
    assert created.json()["apiVersion"] == "events.k8s.io/v1" and created.json()["note"] == "reconciled"
    assert core.json()["message"] == "reconciled" and core.json()["involvedObject"]["name"] == "redis-0"
    assert core.json()["source"] == {} and core.json()["reportingComponent"] == "example.com/operator"
    assert "generation" not in core.json()["metadata"]


@pytest.mark.parametrize(("path", "message"), [
    (f"{POD_METRICS}/nope", 'podmetrics.metrics.k8s.io "production/nope" not found'),
    ("/apis/metrics.k8s.io/v1beta1/nodes/nope", 'nodemetrics.metrics.k8s.io "nope" not found'),
    ("/apis/events.k8s.io/v1/namespaces/production/events/nope", 'events.events.k8s.io "nope" not found'),
    (f"{PODS}/nope", 'pods "nope" not found'),
    ("/apis/apps/v1/namespaces/production/deployments/nope", 'deployments.apps "nope" not found'),
])
def test_a_missing_object_is_404_with_the_real_text(kube, path, message):
    response = kube.request("GET", path)
    assert response.status_code == 404 and response.json()["message"] == message


# -- metrics.k8s.io -------------------------------------------------------------------------------

def test_pod_metrics_are_fresh_in_nanocores_and_kibibytes_for_every_running_pod_and_never_paginated(kube):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    page = _get(kube, POD_METRICS, limit=1)
    after = datetime.now(timezone.utc)
    assert page["metadata"] == {} and page["kind"] == "PodMetricsList"
    pods = {p["metadata"]["name"]: p for p in _get(kube, PODS)["items"]}
    assert {m["metadata"]["name"] for m in page["items"]} == set(pods)
    for item in page["items"]:
        metadata = item["metadata"]
        assert set(metadata) == {"name", "namespace", "creationTimestamp", "labels"}
        assert metadata["labels"] == pods[metadata["name"]]["metadata"]["labels"]
        assert before <= _time(metadata["creationTimestamp"]) <= after
        assert before - timedelta(seconds=15) <= _time(item["timestamp"]) <= after
        assert re.fullmatch(r"1[45](\.\d{1,3})?s", item["window"]), item["window"]
        for container in item["containers"]:
            assert re.fullmatch(r"\d+n", container["usage"]["cpu"]), container
            assert re.fullmatch(r"\d+Ki", container["usage"]["memory"]), container


def test_node_metrics_are_fresh_and_carry_the_nodes_labels(kube):
    items = _get(kube, "/apis/metrics.k8s.io/v1beta1/nodes")["items"]
    now = datetime.now(timezone.utc)
    assert sorted(i["metadata"]["name"] for i in items) == sorted(NODE_NAMES)
    for item in items:
        assert now - _time(item["timestamp"]) < timedelta(seconds=16)
        assert item["metadata"]["labels"]["kubernetes.io/hostname"] == item["metadata"]["name"]
        assert re.fullmatch(r"\d+n", item["usage"]["cpu"]) and re.fullmatch(r"\d+Ki", item["usage"]["memory"])


def test_a_pod_without_a_kubelet_report_or_that_is_gone_has_no_metrics(kube):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "fresh", "labels": {"app": "fresh"}},
           "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}, "status": {"phase": "Running"}}
    metrics = {"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
               "metadata": {"name": "fresh", "namespace": "runbook-checks"},
               "timestamp": "2026-01-01T00:00:00Z", "window": "15s",
               "containers": [{"name": "c", "usage": {"cpu": "950m", "memory": "1Gi"}}]}
    kube.server.store.apply({**pod, "metadata": {**pod["metadata"], "namespace": "runbook-checks"}})
    path = "/apis/metrics.k8s.io/v1beta1/namespaces/runbook-checks/pods/fresh"
    assert kube.request("GET", path).status_code == 404  # just started: no two samples yet
    kube.server.store.apply(metrics)
    reported = kube.request("GET", path).json()
    kube.server.store.delete("v1", "Pod", "runbook-checks", "fresh")
    assert reported["containers"][0]["usage"] == {"cpu": "950m", "memory": "1Gi"}  # canonical forms
    assert reported["metadata"]["labels"] == {"app": "fresh"}
    assert kube.request("GET", path).status_code == 404
    assert _get(kube, "/apis/metrics.k8s.io/v1beta1/namespaces/runbook-checks/pods")["items"] == []


def test_the_admin_may_replace_pod_metrics_by_hand_and_the_suite_may_not(kube, tmp_path):
    name = _app_pods(kube)[0]["metadata"]["name"]
    original = kube.server.store.get("metrics.k8s.io/v1beta1", "PodMetrics", "production", name)
    manifest = tmp_path / "hot.yaml"
    manifest.write_text(f"""apiVersion: metrics.k8s.io/v1beta1
kind: PodMetrics
metadata:
  name: {name}
  namespace: production
timestamp: "2026-12-01T10:00:00Z"
window: 20.064s
containers:
- name: app
  usage:
    cpu: 950000000n
    memory: 310744Ki
""")
    try:
        replaced = kube.kubectl("replace", "-f", str(manifest))
        top = kube.kubectl("top", "pod", name, "-n", "production")
        denied = kube.kubectl("replace", "-f", str(manifest), context="runbook-checks")
        patch = kube.request("PATCH", f"{POD_METRICS}/{name}", token=SUITE_TOKEN, content="{}",
                             headers={"Content-Type": "application/merge-patch+json"})
    finally:
        kube.server.store.apply(original)
    assert replaced.returncode == 0, replaced.stderr
    assert top.stdout.splitlines()[1].split()[1:] == ["950m", "303Mi"], top.stdout
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    assert patch.status_code == 403


def test_a_metrics_write_that_is_not_a_quantity_is_invalid(kube):
    name = _app_pods(kube)[0]["metadata"]["name"]
    body = {"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics", "metadata": {"name": name},
            "timestamp": "2026-12-01T10:00:00Z", "window": "15s",
            "containers": [{"name": "app", "usage": {"cpu": "1K", "memory": "1Gi"}}]}
    response = kube.request("PUT", f"{POD_METRICS}/{name}", json=body)
    assert response.status_code == 422 and "containers[0].usage.cpu" in response.json()["message"]


# -- bulk seeding ---------------------------------------------------------------------------------

def test_a_bulk_seed_validates_each_shape_once_and_still_rejects_a_bad_copy():
    store = ObjectStore()
    store.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "load"}})
    template = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "load"},
                "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]}}
    pods = [{**template, "metadata": {**template["metadata"], "name": f"pod-{n}"}} for n in range(200)]
    assert store.apply_many(pods) == 200 and len(store.list("v1", "Pod", "load")) == 200
    from sandbox.kubeapi.errors import ApiError

    with pytest.raises(ApiError, match="metadata.name"):
        store.apply_many([{**template, "metadata": {"namespace": "load", "name": "Not_A_Name"}}])
    with pytest.raises(ApiError, match="unknown field"):  # a new shape is validated against the schema
        store.apply_many([{**template, "metadata": {"namespace": "load", "name": "extra"}, "specc": {}}])


def _create_configmap(kube, name, value):
    response = kube.request("POST", "/api/v1/namespaces/runbook-checks/configmaps",
                            json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                                  "data": {"v": value}})
    assert response.status_code == 201, response.text


def _time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
