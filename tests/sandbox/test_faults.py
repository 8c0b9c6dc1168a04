"""The fault API drills use: what each call does to the sandbox's Kubernetes API, seen through the API."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sandbox.faults import Faults


@pytest.fixture
def faults(kube, tmp_path):
    return Faults(SimpleNamespace(kube=kube.server, state_dir=tmp_path))


def test_a_status_patch_changes_only_the_status_as_kubectl_patch_subresource_status_does(kube, faults):
    pod = faults.kube_list("Pod")[0]
    name = pod["metadata"]["name"]
    faults.kube_patch("Pod", name, {"status": {"phase": "Failed"}, "spec": {"nodeName": "elsewhere"}},
                      subresource="status")
    served = kube.request("GET", f"/api/v1/namespaces/production/pods/{name}").json()
    assert served["status"]["phase"] == "Failed"
    assert served["spec"]["nodeName"] == pod["spec"]["nodeName"]


def test_a_merge_patch_of_a_missing_object_names_it(faults):
    with pytest.raises(LookupError, match="no Secret nope in namespace production"):
        faults.kube_patch("Secret", "nope", {"data": {}})


def test_an_unknown_service_is_refused_by_name(faults):
    with pytest.raises(ValueError, match="unknown service 'mysql'"):
        faults.stop("mysql")
