"""The CronJob's credentials, proven: environments/production-incluster.toml's in-cluster path (the
service-account token and CA files the kubelet projects into the pod, KUBERNETES_SERVICE_HOST and
_PORT) against the sandbox's API server, with a projected-token-like directory the test writes and
mounts where a pod has it, in a private mount namespace of the suite's process only."""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.deploy.deploy_sandbox import running_sandbox
from tests.suite.runner import REPO

SERVICE_ACCOUNT = "system:serviceaccount:runbook-checks:runbook-checks"
MOUNT = "/run/secrets/kubernetes.io/serviceaccount"  # /var/run is /run


def test_the_in_cluster_environment_reads_the_cluster_with_the_projected_service_account_token(tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to mount the token where a pod has it")
    shipped = tomllib.loads((REPO / "environments" / "production-incluster.toml").read_text())
    assert shipped["kubernetes"]["in_cluster"] is True
    assert not {"kubeconfig", "context"} & set(shipped["kubernetes"])
    with running_sandbox() as (state_dir, env_file):
        kubeconfig = yaml.safe_load((state_dir / "kubeconfig").read_text())
        users = {u["name"]: u["user"]["token"] for u in kubeconfig["users"]}
        cluster = kubeconfig["clusters"][0]["cluster"]
        server = urlsplit(cluster["server"])
        projected = tmp_path / "serviceaccount"
        projected.mkdir()
        (projected / "token").write_text(users["runbook-checks"])
        shutil.copy(cluster["certificate-authority"], projected / "ca.crt")
        (projected / "namespace").write_text("runbook-checks")
        # The sandbox's environment with the in-cluster credentials of production-incluster.toml.
        text = env_file.read_text()
        text = re.sub(r'^kubeconfig = .*\ncontext = .*\n', "in_cluster = true\n", text, flags=re.M)
        assert "in_cluster = true" in text and "kubeconfig" not in text.split("[kubernetes]")[1].split("[")[0]
        incluster = tmp_path / "incluster.toml"
        incluster.write_text(text)
        script = (f"mount --make-rprivate / && mount -t tmpfs -o size=1m tmpfs /run && mkdir -p {MOUNT} "
                  f"&& cp {projected}/* {MOUNT}/ && exec \"$@\"")
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith(("PYTEST_", "RUNBOOK_", "KUBECONFIG"))}
        environ.update(KUBERNETES_SERVICE_HOST=server.hostname, KUBERNETES_SERVICE_PORT=str(server.port))
        run = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", sys.executable, "-m", "pytest",
                              "-p", "no:cacheprovider", "-m", "oauth", f"--env={incluster}"],
                             cwd=REPO, env=environ, capture_output=True, text=True, timeout=180,
                             stdin=subprocess.DEVNULL)
        audit = httpx.get(f"{cluster['server']}/sandbox/audit", timeout=10,
                          headers={"Authorization": f"Bearer {users['sandbox-admin']}"},
                          verify=ssl.create_default_context(cafile=cluster["certificate-authority"])).json()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-1000:]
    assert re.search(r"^=+ \d+ passed(, \d+ deselected)? in ", run.stdout, re.M)
    suite = [r for r in audit["items"] if r["user"] == SERVICE_ACCOUNT]
    assert {(r["resource"], r["subresource"]) for r in suite} >= {("pods", ""), ("secrets", ""), ("pods", "log")}
    assert all(r["status_code"] < 400 for r in suite), [r for r in suite if r["status_code"] >= 400]
    assert not Path(MOUNT).exists(), "the mount leaked out of the suite's private namespace"
