"""deploy/kubernetes/rbac.yaml as the sandbox enforces it: the suite's service account reads what the runbook's
checks need and nothing else, and the audit trail proves it used only read verbs."""

import pytest
import yaml

from tests.sandbox.kube_harness import ROOT, SUITE_TOKEN, SUITE_USER

pytestmark = pytest.mark.xdist_group("kube-rbac")


@pytest.mark.parametrize(("path", "params"), [
    ("/api/v1/namespaces/production/pods", {}),
    ("/api/v1/namespaces/production/pods/redis-0/log", {"tailLines": "1"}),
    ("/api/v1/namespaces/production/secrets/jwt-keys", {}),
    ("/api/v1/namespaces/production/events", {}),
    ("/api/v1/namespaces/default/events", {"fieldSelector": "involvedObject.kind=Node"}),  # node OOM events
    ("/api/v1/namespaces/production/serviceaccounts/app-backend", {}),
    ("/apis/apps/v1/namespaces/production/deployments/app-backend", {}),
    ("/apis/apps/v1/namespaces/production/replicasets", {}),
    ("/apis/autoscaling/v2/namespaces/production/horizontalpodautoscalers", {}),
    ("/apis/networking.k8s.io/v1/namespaces/production/ingresses", {}),
    ("/apis/metrics.k8s.io/v1beta1/namespaces/production/pods", {}),
    ("/apis/metrics.k8s.io/v1beta1/nodes", {}),
    ("/api/v1/nodes", {}),
    ("/api/v1/namespaces/production", {}),
    ("/apis/apps/v1/namespaces/ingress-nginx/deployments/ingress-nginx-controller", {}),
    ("/api/v1/namespaces/ingress-nginx/pods", {}),
    ("/apis", {}),
])
def test_the_suite_identity_may_read_what_the_runbook_checks_need(kube, path, params):
    response = kube.request("GET", path, params=params, token=SUITE_TOKEN)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("method", "path", "body", "message"), [
    ("GET", "/api/v1/namespaces/production/secrets/db-password", None,
     'secrets "db-password" is forbidden: User "{user}" cannot get resource "secrets" in API group "" '
     'in the namespace "production"'),
    ("GET", "/api/v1/namespaces/ingress-nginx/secrets", None,
     'secrets is forbidden: User "{user}" cannot list resource "secrets" in API group "" in the namespace "ingress-nginx"'),
    ("PATCH", "/apis/apps/v1/namespaces/production/deployments/app-backend", {"spec": {"replicas": 10}},
     'deployments.apps "app-backend" is forbidden: User "{user}" cannot patch resource "deployments" '
     'in API group "apps" in the namespace "production"'),
    ("PATCH", "/apis/apps/v1/namespaces/production/deployments/app-backend/scale", {"spec": {"replicas": 10}},
     'deployments.apps "app-backend" is forbidden: User "{user}" cannot patch resource "deployments/scale" '
     'in API group "apps" in the namespace "production"'),
    ("DELETE", "/api/v1/namespaces/production/pods/redis-0", None,
     'pods "redis-0" is forbidden: User "{user}" cannot delete resource "pods" in API group "" '
     'in the namespace "production"'),
    ("GET", "/api/v1/namespaces/kube-system/pods", None,
     'pods is forbidden: User "{user}" cannot list resource "pods" in API group "" in the namespace "kube-system"'),
    ("PUT", "/apis/metrics.k8s.io/v1beta1/namespaces/production/pods/redis-0", {"apiVersion": "metrics.k8s.io/v1beta1",
     "kind": "PodMetrics", "metadata": {"name": "redis-0"}, "containers": []},
     'pods.metrics.k8s.io "redis-0" is forbidden: User "{user}" cannot update resource "pods" '
     'in API group "metrics.k8s.io" in the namespace "production"'),
    ("GET", "/api/v1/namespaces/default/pods", None,
     'pods is forbidden: User "{user}" cannot list resource "pods" in API group "" in the namespace "default"'),
    ("GET", "/api/v1/namespaces", None,  # each watched namespace is read by name, never listed
     'namespaces is forbidden: User "{user}" cannot list resource "namespaces" in API group "" at the cluster scope'),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles", None,
     'clusterroles.rbac.authorization.k8s.io is forbidden: User "{user}" cannot list resource "clusterroles" '
     'in API group "rbac.authorization.k8s.io" at the cluster scope'),
])
def test_the_suite_identity_is_forbidden_everything_else(kube, method, path, body, message):
    headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
    response = kube.request(method, path, token=SUITE_TOKEN, json=body, headers=headers)
    assert response.status_code == 403
    status = response.json()
    assert (status["kind"], status["reason"]) == ("Status", "Forbidden")
    assert status["message"] == message.format(user=SUITE_USER)


def test_kubectl_as_the_suite_identity_gets_jwt_keys_but_not_another_secret(kube):
    allowed = kube.kubectl("get", "secret", "jwt-keys", "-n", "production", "-o", "name", context="runbook-checks")
    assert allowed.stdout.strip() == "secret/jwt-keys", allowed.stderr
    denied = kube.kubectl("get", "secret", "api-tls", "-n", "production", context="runbook-checks")
    assert denied.returncode == 1
    assert f'Error from server (Forbidden): secrets "api-tls" is forbidden: User "{SUITE_USER}"' in denied.stderr


def test_kubectl_as_the_suite_identity_cannot_scale_or_delete(kube):
    scaled = kube.kubectl("scale", "deployment/app-backend", "--replicas=10", "-n", "production", context="runbook-checks")
    deleted = kube.kubectl("delete", "pod", "redis-0", "-n", "production", context="runbook-checks")
    assert "(Forbidden)" in scaled.stderr and "(Forbidden)" in deleted.stderr
    assert kube.server.store.get("v1", "Pod", "production", "redis-0") is not None


def test_the_audit_trail_shows_the_suite_identity_used_only_read_verbs(kube):
    kube.kubectl("get", "pods,deploy,hpa,events", "-n", "production", context="runbook-checks")
    kube.kubectl("top", "pods", "-n", "production", context="runbook-checks")
    kube.kubectl("delete", "pod", "redis-0", "-n", "production", context="runbook-checks")
    records = [r for r in kube.request("GET", "/sandbox/audit").json()["items"] if r["user"] == SUITE_USER]
    allowed = {r["verb"] for r in records if r["status_code"] < 400}
    assert allowed <= {"get", "list", "watch"}, allowed
    assert {"get", "list"} <= allowed
    assert {"delete"} <= {r["verb"] for r in records if r["status_code"] == 403}


def test_a_role_binding_grants_only_in_its_own_namespace(kube):
    kube.server.store.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "staging"}})
    assert kube.request("GET", "/api/v1/namespaces/staging/pods", token=SUITE_TOKEN).status_code == 403


def test_the_rbac_manifest_grants_no_write_verb_anywhere():
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "rbac.yaml").read_text()))
    verbs = {v for d in documents for rule in d.get("rules", []) for v in rule["verbs"]}
    assert verbs == {"get", "list"}
    secret_rules = [r for d in documents for r in d.get("rules", []) if "secrets" in r.get("resources", [])]
    assert secret_rules == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["jwt-keys"], "verbs": ["get"]},
                            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]
    # list (which RBAC cannot narrow to Helm's label) only in the optional Helm-history Role
    helm = [d for d in documents if any("secrets" in r.get("resources", []) and "list" in r["verbs"]
                                         for r in d.get("rules", []))]
    assert [d["metadata"]["name"] for d in helm] == ["runbook-checks-helm-history-reader"]
