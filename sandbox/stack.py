"""The sandbox stack: every service of the embedded target, started together, wired, and stopped.

``Sandbox(state_dir).start()`` brings up PostgreSQL, Redis, the AWS endpoint (moto), the
Kubernetes API holding the production namespace, and the app stand-in; applies an optional drill;
and writes into ``state_dir``:

- ``environment.toml``: the environment file ``pytest --env`` accepts,
- ``kubeconfig``: contexts ``sandbox-admin`` (current; kubectl by hand) and ``runbook-checks``
  (the suite's least-privilege identity from deploy/kubernetes/rbac.yaml),
- ``pgpass``, ``aws/credentials`` and ``aws/config``: the standard credential files.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import yaml

from sandbox.keytypes import KEY_TYPES

__all__ = ["KEY_TYPES", "Sandbox", "generate_key_pair"]

REPO = Path(__file__).resolve().parent.parent
NAMESPACE = "production"
DEPLOYMENT = "app-backend"
SECRET = "jwt-keys"
IMAGE = "ghcr.io/ytvideocreator/app-backend:1.42.0"
PREVIOUS_IMAGE = "ghcr.io/ytvideocreator/app-backend:1.41.3"
ISSUER = "https://api.ytvideocreator.com"
AUDIENCE = "app-backend"
# initdb's pristine result, reused across runs (git-ignored; delete it at will).
TEMPLATE_CACHE = REPO / ".sandbox-cache"
# The sandbox's revocation list holds 200 tokens; its limit is scaled down from production's default
# (1,000,000) so a drill can flood it in a fraction of a second.
SANDBOX_MAX_REVOCATION_KEYS = 10_000
APP_APPLICATION_NAME = "app-backend"  # the application_name of the app's pooled connections
# The sandbox's thresholds are the runbook's scaled down, so a drill shows them crossed in seconds.
IDLE_MINUTES = 0.05  # 3 s
APP_POOL_KEEPALIVE_S = 1.0
IDLE_IN_TRANSACTION_S = 2.0
SLOW_QUERY_S = 1.0
SUITE_SERVICE_ACCOUNT = "system:serviceaccount:runbook-checks:runbook-checks"
# Redis requires a password, as production's does; the environment file references it as
# ${SANDBOX_REDIS_PASSWORD} and the sandbox plugin sets that variable from this 0600 file.
from sandbox import REDIS_PASSWORD_FILE, REDIS_PASSWORD_VAR


def generate_key_pair(key_type: str = "rsa") -> tuple[str, str]:
    """A fresh key pair as PEM strings, as scripts/generate_jwt_keys.py would make it: RSA 2048,
    EC P-256 or Ed25519."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if key_type not in KEY_TYPES:
        raise ValueError(f"unknown key type {key_type!r}; one of {', '.join(KEY_TYPES)}")
    key = {"rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
           "ec": lambda: ec.generate_private_key(ec.SECP256R1()),
           "ed25519": ed25519.Ed25519PrivateKey.generate}[key_type]()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def jwt_keys_secret(private_pem: str, public_pem: str) -> dict:
    """Secret jwt-keys exactly as the runbook's ``kubectl create secret generic`` makes it."""
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": SECRET, "namespace": NAMESPACE},
        "data": {"private": base64.b64encode(private_pem.encode()).decode(),
                 "public": base64.b64encode(public_pem.encode()).decode()},
    }


class Sandbox:
    """The whole embedded target; ``start()`` returns the environment file, ``stop()`` undoes all."""

    def __init__(self, state_dir: Path, *, drill: str | None = None, key_type: str = "rsa",
                 pods: int | None = None, kube: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        # "real": etcd, kube-apiserver, the controllers, the scheduler, kwok and metrics-server
        # (sandbox.kube); "imitation": the Python API server (sandbox.kubeapi), until every drill runs
        # on the real one. RUNBOOK_SANDBOX_KUBE chooses when the caller does not.
        self.kube_backend = kube or os.environ.get("RUNBOOK_SANDBOX_KUBE", "imitation")
        if self.kube_backend not in ("real", "imitation"):
            raise ValueError(f"unknown sandbox kube {self.kube_backend!r}: real or imitation")
        self.drill = drill
        self.key_type = key_type
        self.pods = pods  # run this many app pods (each with metrics and events): the scale benchmark
        self.env_file = self.state_dir / "environment.toml"
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.postgres = self.redis = self.aws = self.kube = self.app = None
        self.rollouts = None
        self._other_rollouts: dict[tuple[str, str], object] = {}  # (namespace, name) -> RolloutController
        self.smoke_secret_file = self.state_dir / "smoke-client-secret"
        self._stopped = threading.Event()

    @property
    def faults(self):
        """The fault API drills use (:class:`sandbox.faults.Faults`; on the real control plane
        :class:`sandbox.kube.faults.RealFaults`)."""
        if self.kube_backend == "real":
            from sandbox.kube.faults import RealFaults

            return RealFaults(self)
        from sandbox.faults import Faults

        return Faults(self)

    # --- lifecycle ---

    def start(self) -> Path:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o755)  # the unprivileged postgres user must reach its data dir
        try:
            # PostgreSQL first: initdb runs in its own process while this one imports the rest.
            with ThreadPoolExecutor(max_workers=5) as pool:
                started = [pool.submit(start) for start in (
                    self._start_postgres, self._start_redis, self._start_kube, self._start_aws)]
                keys = pool.submit(generate_key_pair, self.key_type)
                for future in started:
                    future.result()
                self._private_pem, self._public_pem = keys.result()
            self.redis.seed_revocations()
            self._seed_cluster()
            self._hold_app_pool()
            self._start_app()
            self._write_kubeconfig()
            self._write_environment()
            if self.pods:
                self.faults.scale(self.pods)
            if self.drill:
                from sandbox.drills import DRILLS

                DRILLS[self.drill].apply(self.faults)
        except BaseException:
            self.stop()
            raise
        return self.env_file

    def _start_postgres(self) -> None:
        from sandbox.postgres import PostgresServer

        self.postgres = PostgresServer(self._subdir("postgres"), template_cache=TEMPLATE_CACHE)
        self.postgres.start()

    def _start_redis(self) -> None:
        from sandbox.redis import RedisServer

        self.redis = RedisServer(self._subdir("redis"), password=secrets.token_urlsafe(24))
        self.redis.start()
        _write_private(self.state_dir / REDIS_PASSWORD_FILE, self.redis.password)

    def _start_kube(self) -> None:
        if self.kube_backend == "real":
            from sandbox.kube.cluster import RealKube

            self.kube = RealKube(self._subdir("kube"), namespace=NAMESPACE, deployment=DEPLOYMENT).start()
            return
        from sandbox.kubeapi import KubeAPIServer

        self.kube = KubeAPIServer(state_dir=self._subdir("kube"))
        self.kube.start()

    def _start_aws(self) -> None:
        from sandbox.aws import AwsServer

        self.aws = AwsServer(self._subdir("aws"))
        self.aws.start()

    def stop(self) -> None:
        """Stop every service that started, all at once; safe to call twice."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        for controller in [self.rollouts, *self._other_rollouts.values()]:
            if controller is not None:
                controller.stop()
        if self.app is not None:
            self._stop_one(self.app)
        services = [s for s in (self.kube, self.aws, self.redis, self.postgres) if s is not None]
        with ThreadPoolExecutor(max_workers=len(services) or 1) as pool:
            list(pool.map(self._stop_one, services))

    @staticmethod
    def _stop_one(service) -> None:
        try:
            service.stop()
        except Exception as exc:  # keep stopping the others
            print(f"sandbox: stopping {type(service).__name__} failed: {exc}", flush=True)

    # --- wiring ---

    def _subdir(self, name: str) -> Path:
        path = self.state_dir / name
        path.mkdir(exist_ok=True)
        return path

    def _seed_cluster(self) -> None:
        if self.kube_backend == "real":
            from sandbox.cluster import APP_POOL_SIZE

            self.kube.seed(private_pem=self._private_pem, public_pem=self._public_pem, role_arn=self.aws.role_arn,
                           history=[PREVIOUS_IMAGE.rpartition(":")[2], IMAGE.rpartition(":")[2]],
                           pool_size=APP_POOL_SIZE)
            self.admin_token, self.suite_token = self.kube.token("admin"), self.kube.token("suite")
            return
        from sandbox.cluster import load_rbac, seed_production

        seed_production(
            self.kube.store, namespace=NAMESPACE, deployment=DEPLOYMENT, image=IMAGE,
            previous_image=PREVIOUS_IMAGE, jwt_private_pem=self._private_pem,
            jwt_public_pem=self._public_pem, role_arn=self.aws.role_arn, now=datetime.now(timezone.utc),
        )
        from sandbox.helm import seed_release_history

        seed_release_history(self.kube.store, name=DEPLOYMENT, namespace=NAMESPACE,
                             image_repository=IMAGE.rpartition(":")[0], now=datetime.now(timezone.utc))
        load_rbac(self.kube.store)
        self.admin_token = secrets.token_urlsafe(24)
        self.suite_token = secrets.token_urlsafe(24)
        self.kube.add_token(self.admin_token, "sandbox-admin", ["system:masters", "system:authenticated"])
        self.kube.add_token(self.suite_token, SUITE_SERVICE_ACCOUNT, [
            "system:serviceaccounts", "system:serviceaccounts:runbook-checks", "system:authenticated"])

    def _hold_app_pool(self) -> None:
        """Each app pod holds its pool of DATABASE_POOL_SIZE connections, kept busy (SELECT 1 every
        APP_POOL_KEEPALIVE_S, well inside the sandbox's idle threshold) as by live traffic."""
        from sandbox.cluster import APP_POOL_SIZE

        self.postgres.hold("app", APP_APPLICATION_NAME, APP_POOL_SIZE * len(self.app_pods()),
                           keepalive_seconds=APP_POOL_KEEPALIVE_S)

    def read_jwt_keys(self) -> tuple[bytes, bytes]:
        """The PEMs in secret jwt-keys, read as the kubelet mounts them into a starting pod."""
        if self.kube_backend == "real":
            return self.kube.read_jwt_keys()
        secret = self.kube.store.get("v1", "Secret", NAMESPACE, SECRET) or {}
        data = secret.get("data") or {}
        return base64.b64decode(data.get("private", "")), base64.b64decode(data.get("public", ""))

    def app_pods(self) -> list[str]:
        if self.kube_backend == "real":
            return self.kube.app_pods()
        pods = self.kube.store.list("v1", "Pod", NAMESPACE)
        return sorted(p["metadata"]["name"] for p in pods
                      if (p["metadata"].get("labels") or {}).get("app") == DEPLOYMENT)

    def _start_app(self) -> None:
        from sandbox.app import AppStandIn

        self.app = AppStandIn(
            key_loader=self.read_jwt_keys, redis_url=self.redis.url, redis_password=self.redis.password,
            postgres_dsn=self.postgres.dsn("app"), version=IMAGE.rpartition(":")[2],
            pods=self.app_pods(), issuer=ISSUER, audience=AUDIENCE,
            log_dir=self.state_dir / "podlogs" if self.kube_backend == "real" else None,
        )
        self.app.start()
        if self.kube_backend == "real":
            self.kube.follow(self.app, servers={"postgres": self.postgres, "redis": self.redis})
            return
        self.kube.set_log_source(self.app.logs_for)
        from sandbox.rollout import RolloutController

        self.rollouts = RolloutController(self.kube.store, namespace=NAMESPACE, deployment=DEPLOYMENT,
                                          repository=IMAGE.rpartition(":")[0], on_serving=self._serving)
        self.kube.store.subscribe(self._rollout_controller, kinds=("Deployment",))
        self.kube.store.subscribe(self._replica_set_controller, kinds=("Pod",))

    def _serving(self, image: str, pods: list[str]) -> None:
        """A rollout completed: the app now runs that image's version in these pods."""
        self.app.version = image.rpartition(":")[2]
        self.app.set_pods(pods)

    def _controller_of(self, namespace: str, name: str):
        """The rollout controller of a deployment: the app's, or one made on first use for any other
        (the ingress controller), whose pods the app stand-in does not serve."""
        if (namespace, name) == (NAMESPACE, DEPLOYMENT):
            return self.rollouts
        if (namespace, name) not in self._other_rollouts:
            from sandbox.rollout import RolloutController

            self._other_rollouts[namespace, name] = RolloutController(
                self.kube.store, namespace=namespace, deployment=name, repository="",
                on_serving=lambda image, pods: None, app=False)
        return self._other_rollouts[namespace, name]

    def _replica_set_controller(self, kind: str, old: dict | None, new: dict | None) -> None:
        """A deleted pod of a deployment is replaced by its ReplicaSet
        (:meth:`sandbox.rollout.RolloutController.replace`)."""
        if kind != "Pod" or old is None or new is not None:
            return
        owner = next((o for o in old["metadata"].get("ownerReferences") or [] if o.get("kind") == "ReplicaSet"), None)
        if owner is None:
            return
        rs = self.kube.store.get("apps/v1", "ReplicaSet", old["metadata"]["namespace"], owner.get("name", ""))
        deployment = next((o for o in ((rs or {}).get("metadata") or {}).get("ownerReferences") or []
                           if o.get("kind") == "Deployment"), None)
        if deployment is None:
            return
        controller = self._controller_of(old["metadata"]["namespace"], deployment["name"])
        serving = controller.replace(old)
        if serving is not None and controller is self.rollouts:
            self.app.set_pods(serving)

    def _rollout_controller(self, kind: str, old: dict | None, new: dict) -> None:
        """The part of the deployment controller the runbook's remediations rely on.

        ``kubectl rollout restart`` (a new ``restartedAt`` annotation on the pod template) restarts
        the app, which reloads secret jwt-keys as new pods would; any other template change (a new
        image, ``kubectl rollout undo``) is rolled out by :mod:`sandbox.rollout`, as is ``kubectl
        scale``; any other spec change is marked observed so ``kubectl rollout status`` completes.
        """
        if kind != "Deployment" or old is None or new is None:
            return
        namespace, name = new["metadata"]["namespace"], new["metadata"]["name"]
        is_app = (namespace, name) == (NAMESPACE, DEPLOYMENT)
        controller = self._controller_of(namespace, name)
        if controller.template_changed(old, new):
            controller.start(new)
            return
        if (old.get("spec") or {}).get("replicas") != (new.get("spec") or {}).get("replicas"):
            serving = controller.scale(new)
            if serving is not None:
                if is_app:
                    self.app.set_pods(serving)
                return
        if is_app and _restarted_at(new) != _restarted_at(old):
            self.app.reload_keys()
        # What is stored now, not the event's copy: a write this controller made in answer to an
        # earlier event may have come after the one this event tells of.
        current = self.kube.store.get("apps/v1", "Deployment", namespace, name) or new
        status = current.get("status") or {}
        if status.get("observedGeneration") != current["metadata"]["generation"]:
            self.kube.store.apply({**current, "status": {**status,
                                                         "observedGeneration": current["metadata"]["generation"]}})

    def _write_kubeconfig(self) -> None:
        cluster = {"server": self.kube.url, "certificate-authority": str(self.kube.ca_file)}
        document = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "sandbox", "cluster": cluster}],
            "users": [{"name": "sandbox-admin", "user": {"token": self.admin_token}},
                      {"name": "runbook-checks", "user": {"token": self.suite_token}}],
            "contexts": [
                {"name": "sandbox-admin", "context": {"cluster": "sandbox", "user": "sandbox-admin",
                                                      "namespace": NAMESPACE}},
                {"name": "runbook-checks", "context": {"cluster": "sandbox", "user": "runbook-checks",
                                                       "namespace": NAMESPACE}},
            ],
            "current-context": "sandbox-admin",
        }
        _write_private(self.kubeconfig, yaml.safe_dump(document, sort_keys=False))

    def _write_environment(self) -> None:
        from sandbox.aws import OIDC_PROVIDER
        from sandbox.postgres import OPERATOR_ROLE

        aws = self.aws
        app = self.app.url
        text = f"""\
# The embedded sandbox, written by `python -m sandbox up` ({datetime.now(timezone.utc):%Y-%m-%d %H:%M:%SZ}).
# Point anything at it:
#   pytest -m oauth --env={self.env_file}
#   kubectl --kubeconfig {self.kubeconfig} get pods -n {NAMESPACE}
#   psql '{self.postgres.dsn("runbook_checks")}'
#   psql '{self.postgres.dsn("app")}'     (the app's role)
#   psql '{self.postgres.dsn(OPERATOR_ROLE)}'     (the on-call operator's role: the remediations' psql)
#   psql '{self.postgres.superuser_dsn()}'     (superuser, local socket; log: {self.postgres.log_file})
#   REDISCLI_AUTH="$(cat {self.state_dir / REDIS_PASSWORD_FILE})" redis-cli -u {self.redis.url} ping
#   AWS_SHARED_CREDENTIALS_FILE={aws.credentials_file} AWS_CONFIG_FILE={aws.config_file} \\
#     aws --profile sandbox --endpoint-url {aws.endpoint_url} s3 ls

[environment]
name = "sandbox"
description = "embedded sandbox in {self.state_dir}, {self.key_type} signing key{f', drill {self.drill}' if self.drill else ''}"

[kubernetes]
kubeconfig = "{self.kubeconfig}"
context = "runbook-checks"
operator_context = "sandbox-admin"
namespace = "{NAMESPACE}"
deployment = "{DEPLOYMENT}"
pod_selector = "app={DEPLOYMENT}"

[oauth]
jwks_url = "{app}/oauth/jwks.json"
secret_name = "{SECRET}"
probe_url = "{app}/api/v1/me"
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
# Production's budget is 500 ms; a sandbox shares its machine with the tests (make test runs drills
# two at a time), and a first fetch that waited for a core must not fail an unrelated drill.
jwks_latency_budget_ms = 1500

[redis]
url = "{self.redis.url}"
max_revocation_keys = {SANDBOX_MAX_REVOCATION_KEYS}  # scaled to the sandbox's 200 revoked tokens
password = "${{{REDIS_PASSWORD_VAR}}}"  # export {REDIS_PASSWORD_VAR}="$(cat {self.state_dir / REDIS_PASSWORD_FILE})"

[postgres]
dsn = "{self.postgres.dsn("runbook_checks")}"
# The remediations' psql commands connect as the operator role, never as the suite's (above).
operator_dsn = "{self.postgres.dsn(OPERATOR_ROLE)}"
slow_query_seconds = {SLOW_QUERY_S}

[db_pool]
# The runbook's thresholds (10 minutes idle) scaled down so drills show them crossed in seconds.
idle_minutes = {IDLE_MINUTES}
idle_in_transaction_seconds = {IDLE_IN_TRANSACTION_S}
pool_size_env = "DATABASE_POOL_SIZE"

[aws]
region = "{aws.region}"
bucket = "{aws.bucket}"
role_name = "{aws.role_name}"
role_policy_name = "{aws.role_policy_name}"
kms_key_id = "{aws.kms_key_id}"
endpoint_url = "{aws.endpoint_url}"
profile = "sandbox"
credentials_file = "{aws.credentials_file}"
config_file = "{aws.config_file}"

[s3]
service_account = "{DEPLOYMENT}"
oidc_provider = "{OIDC_PROVIDER}"
assume_app_role = true

[app]
base_url = "{app}"
health_live_url = "{app}/health/live"
health_ready_url = "{app}/health/ready"

[deploy]
# A sandbox rollout takes about 2 s; a stalled one is given up on after this window.
settle_seconds = 8
poll_seconds = 0.5
version_url = "{app}/health/live"
smoke_token_url = "{app}/oauth/token"
smoke_url = "{app}/api/v1/me"
smoke_client_id = "{self.app.client_id}"
smoke_client_secret_file = "{self.smoke_secret_file}"
smoke_writes = true
smoke_revoke_url = "{app}/oauth/revoke"

[rollback]
helm_release = "{DEPLOYMENT}"
"""
        _write_private(self.env_file, text)
        _write_private(self.smoke_secret_file, self.app.client_secret)

    def remove_state(self) -> None:
        shutil.rmtree(self.state_dir, ignore_errors=True)


def _restarted_at(deployment: dict) -> str | None:
    template = (deployment.get("spec") or {}).get("template") or {}
    return ((template.get("metadata") or {}).get("annotations") or {}).get("kubectl.kubernetes.io/restartedAt")


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it names credential files or holds tokens)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
