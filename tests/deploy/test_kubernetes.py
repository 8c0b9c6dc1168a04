"""deploy/kubernetes/: every manifest fits the official Kubernetes schema, kustomize renders them,
the CronJob runs the nightly sweep safely, and the sandbox enforces the same RBAC objects."""

import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from sandbox.cluster import KUSTOMIZATION
from tests.sandbox.kube_harness import ROOT

MANIFESTS = sorted(p.name for p in KUSTOMIZATION.glob("*.yaml") if p.name != "kustomization.yaml")


def _documents(name):
    return [d for d in yaml.safe_load_all((KUSTOMIZATION / name).read_text()) if d]


def test_the_kustomization_lists_every_manifest_of_the_directory():
    kustomization = yaml.safe_load((KUSTOMIZATION / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == MANIFESTS


@pytest.mark.parametrize("name", MANIFESTS)
def test_every_manifest_document_fits_the_official_schema(name):
    documents = _documents(name)
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, "1.32", strict=True)


def test_kubectl_kustomize_renders_the_namespace_identity_and_cronjob():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    result = subprocess.run([kubectl, "kustomize", str(KUSTOMIZATION)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    kinds = sorted(d["kind"] for d in rendered)
    expected = sorted(d["kind"] for name in MANIFESTS for d in _documents(name))
    assert kinds == expected
    assert {"Namespace", "ServiceAccount", "CronJob", "PersistentVolumeClaim", "Role", "ClusterRole"} <= set(kinds)
    for document in rendered:
        kubernetes_validate.validate(document, "1.32", strict=True)


def _cronjob():
    return next(d for d in _documents("cronjob.yaml") if d["kind"] == "CronJob")


def _pod():
    return _cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_the_cronjob_runs_the_nightly_sweep_as_the_read_only_identity_into_the_reports_volume():
    cronjob = _cronjob()
    pod = _pod()
    assert cronjob["metadata"]["namespace"] == "runbook-checks"
    assert pod["serviceAccountName"] == "runbook-checks"
    container = pod["containers"][0]
    assert container["args"] == ["--env=production-incluster", "--reports-dir=/reports"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/reports": "reports", "/tmp": "tmp"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["reports"]["persistentVolumeClaim"]["claimName"] == "runbook-checks-reports"


def test_the_cronjob_never_overlaps_retries_or_hangs():
    cronjob = _cronjob()
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert job["backoffLimit"] == 0  # a retry would run the S3 canary twice
    assert 0 < job["activeDeadlineSeconds"] <= 3600
    assert _pod()["terminationGracePeriodSeconds"] >= 30  # the SIGTERM cleanup takes seconds


def test_the_cronjob_pod_meets_the_restricted_pod_security_standard_with_bounded_resources():
    pod = _pod()
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    (namespace,) = _documents("namespace.yaml")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_image_installs_the_runtime_lock_and_runs_pytest_as_a_non_root_user():
    text = "\n".join(line for line in (ROOT / "deploy" / "Dockerfile").read_text().splitlines()
                     if not line.startswith("#"))
    lines = [" ".join(line.split()) for line in text.replace("\\\n", " ").splitlines() if line.strip()]
    assert lines[0].startswith("FROM python:3.11-slim")
    assert any(line.startswith("COPY requirements-runtime.lock ") for line in lines)
    assert any(line.startswith("RUN ") and "deploy/install.sh /opt/runbook-checks" in line for line in lines)
    assert not any("requirements.lock" in line for line in lines)  # the full lock holds the sandbox
    user = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert any(line.startswith('ENTRYPOINT ["pytest"') for line in lines)
