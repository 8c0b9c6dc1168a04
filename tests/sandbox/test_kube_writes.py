"""Writes against the sandbox's Kubernetes API: kubectl apply/scale/delete, the patch flavours,
conflicts and the status subresource. One seeded server for the module; each test writes its own
objects or says what it changes."""

import base64
import json

import pytest

pytestmark = pytest.mark.xdist_group("kube-writes")

SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: {name}
  namespace: production
type: Opaque
stringData:
  token: {value}
"""


def _secret_data(kube, name):
    obj = kube.server.store.get("v1", "Secret", "production", name)
    return {k: base64.b64decode(v).decode() for k, v in obj["data"].items()}


def test_kubectl_apply_creates_a_secret_and_then_replaces_its_data(kube):
    created = kube.kubectl("apply", "-f", "-", stdin=SECRET.format(name="api-token", value="first"))
    assert created.returncode == 0 and "secret/api-token created" in created.stdout, created.stderr
    replaced = kube.kubectl("apply", "-f", "-", stdin=SECRET.format(name="api-token", value="second"))
    assert replaced.returncode == 0 and "secret/api-token configured" in replaced.stdout, replaced.stderr
    assert _secret_data(kube, "api-token") == {"token": "second"}


def test_the_runbooks_jwt_keys_replacement_by_hand_replaces_both_keys(kube, tmp_path):
    """Runbook, Incident 3, resolution: regenerate the keys and `create secret --dry-run | apply`."""
    (tmp_path / "jwt-private.pem").write_text("NEW PRIVATE\n")
    (tmp_path / "jwt-public.pem").write_text("NEW PUBLIC\n")
    manifest = kube.kubectl("create", "secret", "generic", "jwt-keys", "-n", "production",
                            f"--from-file=private={tmp_path / 'jwt-private.pem'}",
                            f"--from-file=public={tmp_path / 'jwt-public.pem'}", "--dry-run=client", "-o", "yaml")
    assert manifest.returncode == 0, manifest.stderr
    applied = kube.kubectl("apply", "-f", "-", stdin=manifest.stdout)
    assert applied.returncode == 0 and "secret/jwt-keys configured" in applied.stdout, applied.stderr
    assert _secret_data(kube, "jwt-keys") == {"private": "NEW PRIVATE\n", "public": "NEW PUBLIC\n"}
    secret = kube.server.store.get("v1", "Secret", "production", "jwt-keys")
    assert secret["type"] == "Opaque"


def test_kubectl_apply_of_a_deployment_change_keeps_its_status_and_bumps_generation(kube):
    before = kube.server.store.get("apps/v1", "Deployment", "production", "app-backend")
    manifest = json.loads(json.dumps(before))
    manifest["metadata"] = {"name": "app-backend", "namespace": "production"}
    manifest.pop("status")
    manifest["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "LOG_LEVEL", "value": "debug"})
    result = kube.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    assert result.returncode == 0, result.stderr
    after = kube.server.store.get("apps/v1", "Deployment", "production", "app-backend")
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert after["status"] == before["status"]
    assert [e["name"] for e in after["spec"]["template"]["spec"]["containers"][0]["env"]] == ["JWT_KEYS_DIR", "DATABASE_POOL_SIZE",
                                                                                  "LOG_LEVEL"]


def test_kubectl_scale_sets_the_replicas_through_the_scale_subresource(kube):
    result = kube.kubectl("scale", "deployment", "ingress-nginx-controller", "-n", "ingress-nginx", "--replicas=2")
    assert result.returncode == 0, result.stderr
    scale = kube.request("GET", "/apis/apps/v1/namespaces/ingress-nginx/deployments/ingress-nginx-controller/scale").json()
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 2
    assert scale["status"]["selector"] == "app.kubernetes.io/component=controller,app.kubernetes.io/name=ingress-nginx"


def test_kubectl_delete_removes_a_pod(kube):
    result = kube.kubectl("delete", "pod", "postgres-0", "-n", "production")
    assert result.returncode == 0 and 'pod "postgres-0" deleted' in result.stdout, result.stderr
    assert kube.server.store.get("v1", "Pod", "production", "postgres-0") is None
    assert kube.kubectl("get", "pod", "postgres-0", "-n", "production").stderr.strip() == \
        'Error from server (NotFound): pods "postgres-0" not found'


CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "patched"}, "data": {"a": "1", "b": "2"}}


@pytest.mark.parametrize(("content_type", "patch", "expected"), [
    ("application/merge-patch+json", {"data": {"a": None, "c": "3"}}, {"b": "2", "c": "3"}),
    ("application/strategic-merge-patch+json", {"data": {"a": "9"}}, {"a": "9", "b": "2"}),
    ("application/json-patch+json", [{"op": "remove", "path": "/data/b"}, {"op": "add", "path": "/data/d", "value": "4"}],
     {"a": "1", "d": "4"}),
    ("application/apply-patch+yaml", {"data": {"e": "5"}}, {"a": "1", "b": "2", "e": "5"}),
])
def test_each_patch_content_type_patches_as_kubernetes_does(kube, content_type, patch, expected):
    name = f"patched-{content_type.split('/')[1].split('+')[0]}"
    created = kube.request("POST", "/api/v1/namespaces/production/configmaps",
                           json={**CONFIGMAP, "metadata": {"name": name}})
    assert created.status_code == 201, created.text
    response = kube.request("PATCH", f"/api/v1/namespaces/production/configmaps/{name}", content=json.dumps(patch),
                            headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == expected


def test_strategic_merge_merges_containers_by_name_and_honours_patch_delete(kube):
    path = "/apis/apps/v1/namespaces/production/deployments/app-backend"
    sidecar = {"spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"}]}}}}
    headers = {"Content-Type": "application/strategic-merge-patch+json"}
    added = kube.request("PATCH", path, content=json.dumps(sidecar), headers=headers).json()
    assert [c["name"] for c in added["spec"]["template"]["spec"]["containers"]] == ["app", "proxy"]
    removal = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [{"name": "proxy", "$patch": "delete"}, {"name": "app", "image": "ghcr.io/ytvideocreator/app-backend:1.42.1"}]}}}}
    patched = kube.request("PATCH", path, content=json.dumps(removal), headers=headers).json()
    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("app", "ghcr.io/ytvideocreator/app-backend:1.42.1")]
    assert containers[0]["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}


def test_a_put_with_a_stale_resource_version_is_a_conflict(kube):
    path = "/api/v1/namespaces/production/services/app-backend"
    service = kube.request("GET", path).json()
    stale = json.loads(json.dumps(service))
    service["metadata"].setdefault("labels", {})["tier"] = "web"
    assert kube.request("PUT", path, json=service).status_code == 200
    response = kube.request("PUT", path, json=stale)
    assert response.status_code == 409 and response.json()["reason"] == "Conflict"


def test_creating_an_existing_object_is_already_exists(kube):
    response = kube.request("POST", "/api/v1/namespaces/production/serviceaccounts",
                            json={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app-backend"}})
    assert response.status_code == 409
    assert response.json()["message"] == 'serviceaccounts "app-backend" already exists'


def test_the_status_subresource_writes_only_the_status(kube):
    path = "/apis/apps/v1/namespaces/production/replicasets"
    rs = kube.request("GET", path, params={"labelSelector": "app=app-backend"}).json()["items"][0]
    name = rs["metadata"]["name"]
    patch = {"spec": {"replicas": 42}, "status": {"replicas": 0, "readyReplicas": 0}}
    response = kube.request("PATCH", f"{path}/{name}/status", content=json.dumps(patch),
                            headers={"Content-Type": "application/merge-patch+json"})
    assert response.status_code == 200, response.text
    status = response.json()["status"]
    assert status["replicas"] == 0 and "readyReplicas" not in status  # omitempty: a zero counter is absent
    assert response.json()["spec"]["replicas"] == rs["spec"]["replicas"]


def test_secret_string_data_is_stored_as_base64_data(kube):
    response = kube.request("POST", "/api/v1/namespaces/production/secrets", json={
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "from-string-data"}, "stringData": {"k": "v"}})
    assert response.status_code == 201
    assert response.json()["data"] == {"k": "dg=="} and "stringData" not in response.json()


def test_a_create_takes_the_namespace_from_the_url_and_sets_the_server_fields(kube):
    response = kube.request("POST", "/api/v1/namespaces/runbook-checks/configmaps",
                            json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fresh"}})
    metadata = response.json()["metadata"]
    assert response.status_code == 201
    assert metadata["namespace"] == "runbook-checks" and "generation" not in metadata  # no ConfigMap has one
    assert {"uid", "resourceVersion", "creationTimestamp"} <= set(metadata)
    deleted = kube.request("DELETE", "/api/v1/namespaces/runbook-checks/configmaps/fresh")
    assert deleted.status_code == 200 and deleted.json()["metadata"]["name"] == "fresh"


def _configmap(kube, name: str, value: str) -> None:
    manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: production}}\ndata: {{a: '{value}'}}\n"
    applied = kube.kubectl("apply", "-f", "-", stdin=manifest)
    assert applied.returncode == 0, applied.stderr


def _watch_events(kube, path: str, params: dict, until: int) -> list[tuple[str, str, str]]:
    """(type, name, resourceVersion) of a watch's first ``until`` events."""
    seen = []
    with kube.http() as client, client.stream("GET", path, params={**params, "watch": "true",
                                                                   "timeoutSeconds": "10"}) as stream:
        for line in stream.iter_lines():
            if line:
                event = json.loads(line)
                seen.append((event["type"], event["object"]["metadata"]["name"],
                             event["object"]["metadata"]["resourceVersion"]))
            if len(seen) == until:
                break
    return seen


def test_a_watch_streams_the_writes_since_the_lists_resource_version_in_order_and_filtered(kube):
    """As kube-apiserver: a watch from a list's resourceVersion first gets what changed since,
    then each write as it happens; a field selector keeps one object; a deletion is DELETED."""
    import threading

    path = "/api/v1/namespaces/production/configmaps"
    listed = kube.request("GET", path).json()["metadata"]["resourceVersion"]
    _configmap(kube, "watched", "1")
    _configmap(kube, "other", "1")

    def later() -> None:
        kube.kubectl("patch", "configmap", "watched", "-n", "production", "--type=merge", "-p", '{"data":{"a":"2"}}')
        kube.kubectl("delete", "configmap", "watched", "-n", "production")

    writer = threading.Timer(0.5, later)
    writer.start()
    try:
        events = _watch_events(kube, path, {"resourceVersion": listed, "fieldSelector": "metadata.name=watched"}, 3)
    finally:
        writer.join()
    assert [(kind, name) for kind, name, _ in events] == [("ADDED", "watched"), ("MODIFIED", "watched"),
                                                          ("DELETED", "watched")]
    versions = [int(rv) for _, _, rv in events]
    assert versions == sorted(versions) and versions[0] > int(listed)
    fresh = _watch_events(kube, path, {"fieldSelector": "metadata.name=other"}, 1)  # no resourceVersion: ADDED first
    assert [(kind, name) for kind, name, _ in fresh] == [("ADDED", "other")]
    kube.kubectl("delete", "configmap", "other", "-n", "production")


def test_a_write_a_controller_makes_in_answer_reaches_a_watch_after_the_write_it_answers(kube):
    """The sandbox's controllers write from the store's listeners; a watch still sees resourceVersion order."""
    import threading

    store = kube.server.store

    def controller(kind, old, new):
        if new is not None and new["metadata"]["name"] == "cause" and "effect" not in (new.get("data") or {}):
            store.apply({**new, "data": {**new["data"], "effect": "written by the controller"}})

    store.subscribe(controller, kinds=("ConfigMap",))
    try:
        path = "/api/v1/namespaces/production/configmaps"
        listed = kube.request("GET", path).json()["metadata"]["resourceVersion"]
        writer = threading.Timer(0.5, lambda: _configmap(kube, "cause", "1"))
        writer.start()
        try:
            events = _watch_events(kube, path, {"resourceVersion": listed, "fieldSelector": "metadata.name=cause"}, 2)
        finally:
            writer.join()
    finally:
        store.unsubscribe(controller)
        kube.kubectl("delete", "configmap", "cause", "-n", "production")
    assert [kind for kind, _, _ in events] == ["ADDED", "MODIFIED"]
    assert int(events[0][2]) < int(events[1][2])
