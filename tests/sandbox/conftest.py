"""Fixtures for the sandbox's own tests: one seeded Kubernetes API server per test module."""

import pytest

from tests.sandbox.kube_harness import start_kube_sandbox


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    """A seeded sandbox Kubernetes API (with deploy/kubernetes/rbac.yaml loaded) shared by one test module."""
    sandbox = start_kube_sandbox(tmp_path_factory.mktemp("kube"))
    yield sandbox
    sandbox.server.stop()
