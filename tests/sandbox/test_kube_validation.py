"""Every write to the sandbox's Kubernetes API is validated against the official 1.32 schema, so the
sandbox cannot drift from the real API and the client's strict models never see a broken object."""

import time
from datetime import datetime, timezone

import pytest

from sandbox.cluster import seed_production
from sandbox.kubeapi.errors import ApiError
from sandbox.kubeapi.store import ObjectStore

pytestmark = pytest.mark.xdist_group("kube-validation")

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "broken"},
    "spec": {"selector": {"matchLabels": {"app": "broken"}},
             "template": {"metadata": {"labels": {"app": "broken"}},
                          "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]}}},
}


def _without(path):
    import copy

    obj = copy.deepcopy(DEPLOYMENT)
    *parents, last = path
    target = obj
    for part in parents:
        target = target[part]
    del target[last]
    return obj


def test_the_production_seed_is_valid_and_seeds_well_under_a_second():
    store = ObjectStore()
    started = time.perf_counter()
    seed_production(store, jwt_private_pem="private", jwt_public_pem="public",
                    role_arn="arn:aws:iam::123456789012:role/app-backend", now=datetime.now(timezone.utc))
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"seeding took {elapsed:.3f} s"
    assert len(store.list("v1", "Pod")) == 6


@pytest.mark.parametrize(("broken", "field"), [
    (_without(("spec", "selector")), "spec.selector: Required value"),
    (_without(("spec", "template", "spec", "containers", 0, "name")), "spec.template.spec.containers[0].name: Required value"),
    ({**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "replicas": "three"}}, "spec.replicas: Invalid value"),
    ({**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "replica": 3}}, "spec.replica: unknown field"),
    ({**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "selector": {"matchLabels": {"app": "other"}}}},
     "spec.template.metadata.labels: Invalid value"),
])
def test_an_invalid_deployment_is_rejected_with_422_naming_the_field(kube, broken, field):
    response = kube.request("POST", "/apis/apps/v1/namespaces/production/deployments", json=broken)
    assert response.status_code == 422, response.text
    status = response.json()
    assert status["reason"] == "Invalid"
    assert status["message"].startswith('Deployment.apps "broken" is invalid: ')
    assert field in status["message"]
    assert kube.server.store.get("apps/v1", "Deployment", "production", "broken") is None


def test_a_patch_that_breaks_the_object_is_rejected_and_changes_nothing(kube):
    path = "/apis/apps/v1/namespaces/production/deployments/app-backend"
    before = kube.request("GET", path).json()
    response = kube.request("PATCH", path, json=[{"op": "remove", "path": "/spec/template/spec/containers/0/image"}],
                            headers={"Content-Type": "application/json-patch+json"})
    assert response.status_code == 422
    assert "spec.template.spec.containers[0].image: Required value" in response.json()["message"]
    assert kube.request("GET", path).json()["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_seeding_an_event_without_involved_object_raises_invalid():
    store = ObjectStore()
    with pytest.raises(ApiError) as caught:
        store.apply({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "production"}})
    assert caught.value.code == 422 and "involvedObject: Required value" in caught.value.message


def test_secret_data_that_is_not_base64_is_rejected():
    with pytest.raises(ApiError, match=r"data\[private\]: Invalid value: not base64-encoded"):
        ObjectStore().apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "production"},
                             "data": {"private": "not base64!"}})


def test_metrics_objects_have_no_schema_and_are_stored_as_given():
    stored = ObjectStore().apply({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics", "metadata": {"name": "n"},
                                  "timestamp": "2026-01-01T00:00:00Z", "window": "20s", "usage": {"cpu": "1"}})
    assert stored["usage"] == {"cpu": "1"}


def test_validating_a_deployment_costs_about_a_millisecond_once_the_schemas_are_loaded():
    from sandbox.kubeapi.resources import by_kind
    from sandbox.kubeapi.validation import validate_object

    rtype = by_kind("apps/v1", "Deployment")
    validate_object(rtype, DEPLOYMENT)
    started = time.perf_counter()
    for _ in range(50):
        validate_object(rtype, DEPLOYMENT)
    per_object = (time.perf_counter() - started) / 50
    assert per_object < 0.005, f"{per_object * 1000:.2f} ms per Deployment"
