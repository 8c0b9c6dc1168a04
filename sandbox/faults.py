"""The sandbox's fault API: the small set of things a drill (or a test, or an engineer in a Python
shell) may do to a running sandbox, each the way the incident looks on a real system.

Drills in ``sandbox/drills/`` call these methods on ``sandbox.faults`` instead of reaching into the
services' internals, so the services can change without touching every drill. Add a method here
when a drill needs a new kind of fault; keep each one a few lines.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import redis

    from sandbox.stack import Sandbox

__all__ = ["Faults", "SERVICES"]

#: Services that can be stopped, suspended and resumed by name.
SERVICES = ("postgres", "redis", "aws", "kube", "app")


class Faults:
    """Faults for one running :class:`~sandbox.stack.Sandbox`."""

    def __init__(self, sandbox: "Sandbox") -> None:
        self._sandbox = sandbox

    def __repr__(self) -> str:
        return f"<faults of the sandbox in {self._sandbox.state_dir}>"

    # --- Kubernetes objects (written as a controller or kubectl would; validated on write) ---

    def kube_get(self, kind: str, name: str, *, namespace: str | None = None,
                 api_version: str = "v1") -> dict[str, Any] | None:
        """A copy of one stored object (namespace defaults to the app's), or None."""
        return self._store.get(api_version, kind, self._namespace(namespace), name)

    def kube_list(self, kind: str, *, namespace: str | None = None, api_version: str = "v1") -> list[dict[str, Any]]:
        """Copies of every stored object of a kind in a namespace (the app's by default)."""
        return self._store.list(api_version, kind, self._namespace(namespace))

    def kube_apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an object, status included."""
        return self._store.apply(obj)

    def kube_patch(self, kind: str, name: str, patch: dict[str, Any], *, namespace: str | None = None,
                   api_version: str = "v1", subresource: str | None = None) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386) of one object; ``subresource="status"`` writes only ``.status``,
        as ``kubectl patch --subresource=status`` does."""
        from sandbox.kubeapi.patch import merge_patch

        current = self.kube_get(kind, name, namespace=namespace, api_version=api_version)
        if current is None:
            raise LookupError(f"no {kind} {name} in namespace {self._namespace(namespace)}")
        if subresource == "status":
            patch = {"status": patch.get("status", {})}
        elif subresource is not None:
            raise ValueError(f"subresource {subresource!r}: only 'status' is supported")
        return self._store.apply(merge_patch(current, patch))

    def kube_delete(self, kind: str, name: str, *, namespace: str | None = None,
                    api_version: str = "v1") -> dict[str, Any] | None:
        """Delete one object (and what it owns, as the garbage collector would)."""
        return self._store.delete(api_version, kind, self._namespace(namespace), name)

    def pod_usage(self, pod: str, container: str = "app", *, cpu: str | None = None, memory: str | None = None,
                  namespace: str | None = None) -> None:
        """Make the kubelet report this usage for one container (what metrics-server then serves):
        ``cpu="950000000n"``, ``memory="1008000Ki"``."""
        metrics = self.kube_get("PodMetrics", pod, namespace=namespace, api_version="metrics.k8s.io/v1beta1")
        if metrics is None:
            raise LookupError(f"pod {pod} has no metrics")
        for entry in metrics["containers"]:
            if entry["name"] == container:
                entry["usage"].update({k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None})
        self.kube_apply(metrics)

    def node_usage(self, node: str, *, cpu: str | None = None, memory: str | None = None) -> None:
        """Make a node's kubelet report this usage (NodeMetrics)."""
        metrics = self.kube_get("NodeMetrics", node, namespace="", api_version="metrics.k8s.io/v1beta1")
        metrics["usage"].update({k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None})
        self.kube_apply(metrics)

    def scale(self, replicas: int) -> None:
        """Run ``replicas`` pods of the app's current ReplicaSet, each with metrics and the events of
        its start, as the deployment controller and the kubelets would (the HPA's status too)."""
        from datetime import datetime, timezone

        from sandbox.cluster import scale_deployment

        scale_deployment(self._store, replicas=replicas, now=datetime.now(timezone.utc))

    def expire_list_tokens(self) -> None:
        """Compact the API server's storage, as it does every five minutes: every continue token
        issued so far answers 410 Expired."""
        self._store.compact()

    # --- services ---

    def stop(self, service: str) -> None:
        """Stop a service for good: its port refuses connections."""
        self._service(service).stop()

    def suspend(self, service: str) -> None:
        """Stop a service that keeps its data and port for :meth:`resume` (postgres, redis)."""
        self._service(service).suspend()

    def resume(self, service: str) -> None:
        self._service(service).resume()

    @contextmanager
    def redis(self) -> Iterator["redis.Redis"]:
        """An administrator's connection to the sandbox's Redis."""
        import redis

        with self._sandbox.redis.client() as client:
            yield client

    def redis_open(self) -> None:
        """Drop the Redis password (``CONFIG SET requirepass ""``): anyone on the network may read."""
        with self.redis() as client:
            client.config_set("requirepass", "")

    # --- AWS (moto behind the sandbox's AWS layer) ---

    def aws(self, service: str):
        """An administrator's boto3 client of the sandbox's AWS (change a policy, disable a key...)."""
        return self._sandbox.aws.client(service)

    @property
    def aws_names(self):
        """The sandbox's AWS resources: ``.bucket``, ``.role_name``, ``.role_arn``, ``.kms_key_id``, ``.alarm_names``."""
        return self._sandbox.aws

    def aws_fault(self, fault: str | None) -> None:
        """Make the AWS endpoint misbehave: "blackhole", "stall-object-reads" (GET/HEAD of objects
        never answer), "access-denied" (all but
        sts:GetCallerIdentity), "expired-credentials"; None heals it. ``stop("aws")`` refuses."""
        from sandbox.aws import FAULTS

        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown AWS fault {fault!r}; one of {', '.join(FAULTS)}")
        self._sandbox.aws.fault = fault

    # --- the app stand-in ---

    def jwks(self, fault: str | None) -> None:
        """Make the JWKS endpoint misbehave (see sandbox/app.py for the faults), or heal it (None)."""
        self._sandbox.app.jwks_fault = fault

    def app_delay(self, seconds: float) -> None:
        """Make every answer of the app this late, as a CPU-saturated app is (0 heals it)."""
        self._sandbox.app.delay_seconds = seconds

    def app_ignores_revocations(self) -> None:
        """Deploy an app build that accepts revoked tokens (it never asks the revocation list)."""
        self._sandbox.app.ignore_revocations = True

    def rotate_jwt_keys(self) -> None:
        """Replace secret jwt-keys with a fresh key pair, as the runbook's ``kubectl create secret
        ... | kubectl apply`` does, without restarting the pods."""
        from sandbox.stack import generate_key_pair, jwt_keys_secret

        self.kube_apply(jwt_keys_secret(*generate_key_pair(self._sandbox.key_type)))

    def app_get(self, path: str, *, headers: dict[str, str] | None = None, times: int = 1) -> list[int]:
        """GET the app ``times`` times, as clients would; returns the status codes."""
        import httpx

        with httpx.Client(base_url=self._sandbox.app.url, timeout=5) as client:
            return [client.get(path, headers=headers).status_code for _ in range(times)]

    @property
    def app_pods(self) -> list[str]:
        """The app's pod names."""
        return self._sandbox.app_pods()

    # --- PostgreSQL (real connections to the real server) ---

    def pg_hold(self, count: int | None = None, *, application_name: str = "app-backend"):
        """Open ``count`` idle connections as the app's role (None: until the server refuses one),
        held until the sandbox stops; returns the :class:`~sandbox.postgres.ClientPool`."""
        return self._sandbox.postgres.hold("app", application_name, count)

    def pg_usable_slots(self) -> int:
        """max_connections minus superuser_reserved_connections of the sandbox's server."""
        server = self._sandbox.postgres
        return server.max_connections - server.superuser_reserved_connections

    def pg_idle_in_transaction(self, statement: str, *, application_name: str = "app-backend") -> int:
        """A session of the app's role left idle in an open transaction after ``statement``; its PID."""
        return self._sandbox.postgres.hold("app", application_name, 0).begin(statement)

    def pg_run(self, statement: str, *, application_name: str = "app-backend") -> int:
        """``statement`` running in the background on a connection of the app's role; its PID."""
        return self._sandbox.postgres.hold("app", application_name, 0).start(statement)

    def pg_lock(self, relation: str) -> int:
        """A superuser session holding ``LOCK relation IN ACCESS EXCLUSIVE MODE`` in an open
        transaction (a migration stuck mid-way): readers of ``relation`` wait. Its PID."""
        from sandbox.postgres import ClientPool

        server = self._sandbox.postgres
        pool = ClientPool(server.superuser_dsn(), "migration")
        server.pools.append(pool)
        return pool.begin(f"LOCK TABLE {relation} IN ACCESS EXCLUSIVE MODE")

    def health(self, fault: str | None) -> None:
        """Make the app's health endpoints fail ("live": both, "ready": readiness), or heal (None)."""
        self._sandbox.app.health_fault = fault

    def api(self, fault: str | None) -> None:
        """Make the authenticated API fail ("5xx": /api/v1/me answers 500), or heal it (None)."""
        self._sandbox.app.api_fault = fault

    def serve_version(self, version: str) -> None:
        """Make the app report another version than the image it was deployed with."""
        self._sandbox.app.version = version

    # --- the cluster's nodes, rollouts and Helm releases ---

    def kubelet_stopped(self, node: str) -> dict[str, Any]:
        """A node whose kubelet stopped posting, as the node lifecycle controller marks it: every
        condition Unknown (NodeStatusUnknown), and the unreachable taints."""
        current = self.kube_get("Node", node)
        if current is None:
            raise LookupError(f"no node {node}")
        conditions = [{**c, "status": "Unknown", "reason": "NodeStatusUnknown",
                       "message": "Kubelet stopped posting node status."}
                      for c in current["status"]["conditions"]]
        current["status"]["conditions"] = conditions
        current["spec"]["taints"] = [
            {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]
        return self.kube_apply(current)

    def set_image(self, image: str, *, container: str = "app") -> dict[str, Any]:
        """``kubectl set image deployment/app-backend app=<image>``: the rollout controller rolls it
        out (or stalls on an image the registry does not hold)."""
        from sandbox.stack import DEPLOYMENT

        deployment = self.kube_get("Deployment", DEPLOYMENT, api_version="apps/v1")
        for c in deployment["spec"]["template"]["spec"]["containers"]:
            if c["name"] == container:
                c["image"] = image
        from sandbox.kubeapi import resources

        rtype = resources.by_kind("apps/v1", "Deployment")  # as the API writes it: a new generation
        return self._store.replace(rtype, self._namespace(None), DEPLOYMENT, deployment)

    def helm_status(self, version: int, status: str) -> None:
        """Rewrite one Helm revision's status (label and release JSON), as Helm itself does."""
        from sandbox.helm import set_status
        from sandbox.stack import DEPLOYMENT

        set_status(self._store, name=DEPLOYMENT, namespace=self._namespace(None), version=version, status=status)

    # --- plumbing ---

    @property
    def _store(self):
        return self._sandbox.kube.store

    @staticmethod
    def _namespace(namespace: str | None) -> str:
        from sandbox.stack import NAMESPACE

        return NAMESPACE if namespace is None else namespace

    def _service(self, name: str):
        if name not in SERVICES:
            raise ValueError(f"unknown service {name!r}; one of {', '.join(SERVICES)}")
        return getattr(self._sandbox, name)
