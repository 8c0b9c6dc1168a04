"""The sandbox on the real control plane (`python -m sandbox up --kube real`), used as production:
every check passes on a healthy one; `kubectl rollout restart` gives the app new pods that the app
stand-in then serves, whose logs `kubectl logs` reads; `helm history` is Helm's own; the suite
passes again after the restart."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.suite.runner import REPO, run_suite, sandbox_running

pytestmark = pytest.mark.xdist_group("real-control-plane")


@pytest.fixture(scope="module")
def real_sandbox():
    state_dir = REPO / ".sandbox" / f"test-real-{uuid.uuid4().hex[:8]}"
    with sandbox_running(state_dir, "--kube", "real", ready_within=300) as (process, env_file):
        yield state_dir, env_file


def kubectl(state_dir: Path, *args: str) -> str:
    result = subprocess.run(["kubectl", f"--kubeconfig={state_dir / 'kubeconfig'}", "--context=sandbox-admin",
                             *args], capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr
    return result.stdout


def app_pods(state_dir: Path) -> set[str]:
    pods = json.loads(kubectl(state_dir, "get", "pods", "-n", "production", "-l", "app=app-backend", "-o", "json"))
    return {p["metadata"]["name"] for p in pods["items"] if not p["metadata"].get("deletionTimestamp")}


def test_every_check_passes_on_a_healthy_sandbox(real_sandbox, tmp_path):
    _, env_file = real_sandbox
    run = run_suite(tmp_path, f"--env={env_file}", "-n", "2")
    assert run.returncode == 0, run.output[-3000:]
    assert not run.names("failed") | run.names("error") | run.names("skipped")
    assert len(run.names("passed")) >= 60


def test_helm_history_is_helms_own_and_kubectl_logs_reads_the_app(real_sandbox):
    state_dir, _ = real_sandbox
    helm = next(Path.home().glob(".cache/runbook-checks/bin/helm-*/helm"))
    history = subprocess.run([str(helm), "history", "app-backend", "-n", "production", "--kube-context",
                              "sandbox-admin", "--kubeconfig", str(state_dir / "kubeconfig"), "-o", "json"],
                             capture_output=True, text=True, timeout=60)
    assert history.returncode == 0, history.stderr
    revisions = [(r["revision"], r["status"], r["app_version"]) for r in json.loads(history.stdout)]
    assert [(r, s) for r, s, _ in revisions] == [(1, "superseded"), (2, "deployed")]
    pod = sorted(app_pods(state_dir))[0]
    log = kubectl(state_dir, "logs", pod, "-n", "production")
    assert "INFO app: starting app-backend version 1.42.0" in log


def test_rollout_restart_gives_new_pods_the_app_serves_and_the_suite_passes_again(real_sandbox, tmp_path):
    state_dir, env_file = real_sandbox
    before = app_pods(state_dir)
    kubectl(state_dir, "rollout", "restart", "deployment/app-backend", "-n", "production")
    kubectl(state_dir, "rollout", "status", "deployment/app-backend", "-n", "production", "--timeout=90s")
    after = app_pods(state_dir)
    assert len(after) == 3 and not before & after
    run = run_suite(tmp_path, f"--env={env_file}", "-m", "deploy or oauth or outage")
    assert run.returncode == 0, run.output[-3000:]
