"""A fake Kubernetes API server on loopback for the sandbox: HTTPS, bearer tokens, RBAC, audit trail,
schema-validated objects; kubectl 1.32 and the Python kubernetes client both work against it."""

from sandbox.kubeapi.server import KubeAPIServer

__all__ = ["KubeAPIServer"]
