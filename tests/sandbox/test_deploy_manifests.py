"""deploy/: the manifests fit the official Kubernetes 1.32 schemas, the CronJob runs the nightly sweep
safely, the image runs as non-root, and the CI gate publishes what it finds."""

import kubernetes_validate
import pytest
import yaml

from tests.sandbox.kube_harness import ROOT

DEPLOY = ROOT / "deploy"


def _documents(name):
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


@pytest.mark.parametrize("name", ["rbac.yaml", "cronjob.yaml"])
def test_every_manifest_document_fits_the_official_schema(name):
    documents = _documents(name)
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, "1.32", strict=True)


def _cronjob():
    return next(d for d in _documents("cronjob.yaml") if d["kind"] == "CronJob")


def test_the_cronjob_runs_the_nightly_sweep_as_the_read_only_identity():
    cronjob = _cronjob()
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert cronjob["metadata"]["namespace"] == "runbook-checks"
    assert pod["serviceAccountName"] == "runbook-checks"
    container = pod["containers"][0]
    assert container["args"] == ["--env", "production-incluster", "--junitxml", "/reports/nightly.xml",
                                 "--runbook-summary", "/reports/nightly.md"]
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/reports", "/tmp"}


def test_the_cronjob_never_overlaps_retries_or_hangs():
    cronjob = _cronjob()
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert job["backoffLimit"] == 0
    assert 0 < job["activeDeadlineSeconds"] <= 3600


def test_the_cronjob_pod_is_non_root_with_a_read_only_root_filesystem():
    pod = _cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_image_installs_the_lock_and_runs_pytest_as_a_non_root_user():
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    assert any("requirements.lock" in line and line.startswith("RUN pip install") for line in lines)
    user = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert 'ENTRYPOINT ["pytest"]' in lines


def test_the_ci_gate_runs_the_deploy_checks_and_publishes_summary_and_xml():
    workflow = yaml.safe_load((DEPLOY / "ci-gate.yml").read_text())
    gate = workflow["jobs"]["runbook-gate"]
    assert gate["needs"] == "deploy"
    runs = [s.get("run", "") for s in gate["steps"]]
    assert ("pytest -m deploy --env production --junitxml reports/deploy.xml --runbook-summary reports/deploy.md"
            in runs)
    summary = next(s for s in gate["steps"] if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    upload = next(s for s in gate["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert summary["if"] == upload["if"] == "always()"
    assert upload["with"]["path"] == "reports/deploy.xml"
