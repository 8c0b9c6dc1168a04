"""A seeded sandbox Kubernetes API for tests: the server, a kubeconfig with an admin and the suite's
service-account context, and helpers to run kubectl and plain HTTP requests as either identity."""

from __future__ import annotations

import os
import ssl
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from sandbox.cluster import load_rbac, seed_production
from sandbox.kubeapi import KubeAPIServer

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "sandbox-admin-token"
SUITE_TOKEN = "runbook-checks-sa-token"
SUITE_USER = "system:serviceaccount:runbook-checks:runbook-checks"
ROLE_ARN = "arn:aws:iam::123456789012:role/app-backend"
JWT_PRIVATE = "-----BEGIN PRIVATE KEY-----\nfake-private\n-----END PRIVATE KEY-----\n"
JWT_PUBLIC = "-----BEGIN PUBLIC KEY-----\nfake-public\n-----END PUBLIC KEY-----\n"


def app_logs(namespace: str, pod: str, container: str, *, previous: bool) -> str:
    """A log source that says which container (and whether the previous one) it is."""
    which = "previous" if previous else "current"
    return "".join(f"{pod}/{container} {which} line {n}\n" for n in range(1, 6))


def write_kubeconfig(path: Path, server: KubeAPIServer) -> Path:
    """A kubeconfig with contexts ``admin`` (system:masters) and ``runbook-checks`` (the suite's SA)."""
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: sandbox
  cluster:
    server: {server.url}
    certificate-authority: {server.ca_file}
users:
- name: admin
  user:
    token: {ADMIN_TOKEN}
- name: runbook-checks
  user:
    token: {SUITE_TOKEN}
contexts:
- name: admin
  context: {{cluster: sandbox, user: admin, namespace: production}}
- name: runbook-checks
  context: {{cluster: sandbox, user: runbook-checks, namespace: production}}
current-context: admin
""")
    return path


@dataclass
class KubeSandbox:
    """A running, seeded API server and the ways tests talk to it."""

    server: KubeAPIServer
    kubeconfig: Path
    home: Path

    def kubectl(self, *args: str, context: str = "admin", stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ["PATH"], "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig)}
        return subprocess.run(["kubectl", f"--context={context}", *args], input=stdin, env=env,
                              capture_output=True, text=True, timeout=30)

    def http(self, token: str | None = ADMIN_TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=10,
                            verify=ssl.create_default_context(cafile=str(self.server.ca_file)))

    def request(self, method: str, path: str, *, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> httpx.Response:
        with self.http(token) as client:
            return client.request(method, path, **kwargs)


def start_kube_sandbox(directory: Path) -> KubeSandbox:
    """Start a server, seed production, load deploy/kubernetes/rbac.yaml, register the two tokens."""
    server = KubeAPIServer(state_dir=directory / "state").start()
    try:
        server.add_token(ADMIN_TOKEN, "sandbox-admin", ["system:masters", "system:authenticated"])
        server.add_token(SUITE_TOKEN, SUITE_USER,
                         ["system:serviceaccounts", "system:serviceaccounts:runbook-checks", "system:authenticated"])
        server.set_log_source(app_logs)
        seed_production(server.store, jwt_private_pem=JWT_PRIVATE, jwt_public_pem=JWT_PUBLIC, role_arn=ROLE_ARN,
                        now=datetime.now(timezone.utc))
        load_rbac(server.store)
        home = directory / "home"
        home.mkdir()
        return KubeSandbox(server, write_kubeconfig(directory / "kubeconfig", server), home)
    except BaseException:
        server.stop()
        raise
