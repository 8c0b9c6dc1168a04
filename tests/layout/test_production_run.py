"""A run against production loads no sandbox module: the sandbox is loaded only with -p sandbox.plugin."""

from __future__ import annotations

import json

from sandbox.ports import free_port
from tests.suite.runner import REPO, run_suite

PROBE = '''
import json, os, sys
from pathlib import Path


def pytest_sessionfinish(session):
    Path(os.environ["MODULES_FILE"]).write_text(json.dumps(sorted(sys.modules)))
'''


KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{{name: prod, cluster: {{server: "https://127.0.0.1:{port}"}}}}]
users: [{{name: suite, user: {{token: not-a-real-token}}}}]
contexts: [{{name: prod-eks, context: {{cluster: prod, user: suite}}}}]
current-context: prod-eks
"""

ENVIRONMENT = """\
[environment]
name = "production"

[kubernetes]
kubeconfig = "kubeconfig"
context = "prod-eks"
namespace = "production"
deployment = "app-backend"
pod_selector = "app=app-backend"
request_timeout_seconds = 2

[oauth]
jwks_url = "http://127.0.0.1:{http}/oauth/jwks.json"
secret_name = "jwt-keys"
request_timeout_seconds = 2

[redis]
url = "redis://127.0.0.1:{redis}/0"
timeout_seconds = 2
"""


def test_an_oauth_run_against_production_on_closed_ports_imports_nothing_from_the_sandbox(tmp_path):
    """production's shape, every dependency on a loopback port nobody listens on, no -p sandbox.plugin."""
    (tmp_path / "kubeconfig").write_text(KUBECONFIG.format(port=free_port()))
    environment = tmp_path / "production.toml"
    environment.write_text(ENVIRONMENT.format(http=free_port(), redis=free_port()))
    (tmp_path / "moduleprobe.py").write_text(PROBE)
    modules = tmp_path / "modules.json"
    run = run_suite(tmp_path, "-m", "oauth", f"--env={environment}", "-p", "moduleprobe", sandbox=False,
                    env={"PYTHONPATH": f"{REPO}:{tmp_path}", "MODULES_FILE": str(modules)})
    assert run.cases, run.output[-2000:]
    assert run.returncode == 1, run.output[-2000:]  # nothing reachable: could not verify, not a crash
    assert not run.names("passed"), run.output[-2000:]
    loaded = json.loads(modules.read_text())
    assert [m for m in loaded if m == "sandbox" or m.startswith("sandbox.")] == []
    assert {"runbook.plugin", "fixtures.oauth", "transport.kube"} <= set(loaded)
