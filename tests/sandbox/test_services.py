"""The sandbox's services: real servers on loopback, exercised with the real client libraries."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import boto3
import botocore.session
import httpx
import jwt
import psycopg
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.app import AppStandIn
from sandbox.aws import AwsServer
from sandbox.postgres import PostgresServer
from sandbox.redis import RedisServer

# One worker runs this whole file, so each service starts once (make test runs -n 2 --dist loadgroup).
pytestmark = pytest.mark.xdist_group("sandbox-services")

# --- helpers ----------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _key_pair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


class FakeSecret:
    """Stands in for secret jwt-keys: the app reads it through key_loader."""

    def __init__(self) -> None:
        self.private, self.public = _key_pair()

    def rotate(self) -> None:
        self.private, self.public = _key_pair()

    def load(self) -> tuple[bytes, bytes]:
        return self.private, self.public


def _token(client: httpx.Client, secret: str) -> str:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "smoke", "client_secret": secret},
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _me(client: httpx.Client, token: str) -> httpx.Response:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _all_logs(app: AppStandIn) -> str:
    return "".join(app.logs_for("production", pod, "app-backend") for pod in app.pods)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory):
    server = PostgresServer(tmp_path_factory.mktemp("postgres"), max_connections=20)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory):
    server = AwsServer(tmp_path_factory.mktemp("aws"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def aws_session(aws: AwsServer) -> boto3.session.Session:
    """A boto3 session that finds credentials, region and endpoint only through the written files."""
    core = botocore.session.Session()
    core.set_config_variable("credentials_file", str(aws.credentials_file))
    core.set_config_variable("config_file", str(aws.config_file))
    core.set_config_variable("profile", "sandbox")
    return boto3.session.Session(botocore_session=core)


@pytest.fixture
def s3(aws_session):
    client = aws_session.client("s3")
    yield client
    client.close()


@pytest.fixture(scope="module")
def secret() -> FakeSecret:
    return FakeSecret()


@pytest.fixture(scope="module")
def app(secret: FakeSecret, redis_server: RedisServer, postgres: PostgresServer):
    stand_in = AppStandIn(
        key_loader=secret.load, redis_url=redis_server.url, postgres_dsn=postgres.dsn("app"),
        version="1.4.2", pods=["app-backend-7d9f-a", "app-backend-7d9f-b"], client_secret="smoke-secret",
    )
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def http(app: AppStandIn):
    with httpx.Client(base_url=app.url, timeout=5) as client:
        yield client


# --- PostgreSQL -------------------------------------------------------------------------------


def test_runbook_checks_role_connects_with_the_passfile_dsn(postgres: PostgresServer):
    with psycopg.connect(postgres.dsn("runbook_checks")) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("runbook_checks", "app")


def test_psql_connects_with_the_same_dsn(postgres: PostgresServer):
    result = subprocess.run(
        ["psql", postgres.dsn("runbook_checks"), "-Atc", "SELECT count(*) FROM videos"],
        capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL,
        env={**os.environ, "PGPASSWORD": "", "PGPASSFILE": "/nonexistent"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "10"


def test_dsn_carries_no_password_and_the_passfile_is_private(postgres: PostgresServer):
    dsn = postgres.dsn("runbook_checks")
    assert "password" not in dsn
    assert postgres.password("runbook_checks") not in dsn
    assert f"passfile={postgres.passfile}" in dsn
    assert stat.S_IMODE(postgres.passfile.stat().st_mode) == 0o600


def test_runbook_checks_role_cannot_write(postgres: PostgresServer):
    with psycopg.connect(postgres.dsn("runbook_checks")) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO videos (title) VALUES ('nope')")


def test_app_role_owns_and_writes_the_table(postgres: PostgresServer):
    with psycopg.connect(postgres.dsn("app")) as conn:
        conn.execute("INSERT INTO videos (title) VALUES ('written by app')")
        conn.rollback()
        assert conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'videos'").fetchone() == ("app",)


def test_runbook_checks_role_sees_other_sessions_queries(postgres: PostgresServer):
    with psycopg.connect(postgres.dsn("app"), application_name="app-backend") as other:
        other.execute("SELECT 'visible marker'")
        with psycopg.connect(postgres.dsn("runbook_checks")) as conn:
            rows = conn.execute(
                "SELECT usename, query FROM pg_stat_activity WHERE application_name = 'app-backend'"
            ).fetchall()
    assert rows == [("app", "SELECT 'visible marker'")]


def test_runbook_checks_role_is_limited_to_two_connections(postgres: PostgresServer):
    dsn = postgres.dsn("runbook_checks")
    with psycopg.connect(dsn), psycopg.connect(dsn):
        with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
            psycopg.connect(dsn).close()


def test_superuser_dsn_reaches_the_server_over_the_socket(postgres: PostgresServer):
    with psycopg.connect(postgres.superuser_dsn()) as conn:
        settings = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('max_connections', 'superuser_reserved_connections', 'listen_addresses')"
        ).fetchall())
    assert settings == {"max_connections": "20", "superuser_reserved_connections": "3",
                        "listen_addresses": "127.0.0.1"}


def test_stopped_postgres_leaves_no_process_and_keeps_the_workdir():
    with tempfile.TemporaryDirectory(prefix="pg-stop-") as tmp:
        server = PostgresServer(Path(tmp))
        started = time.perf_counter()
        server.start()
        elapsed = time.perf_counter() - started
        pid = server.pid
        assert pid is not None and _alive(pid)
        assert server.log_file.is_relative_to(Path(tmp)), "a reachable workdir holds the server's files"
        server.stop()
        assert not _alive(pid)
        assert server.log_file.exists() and server.passfile.exists()
        server.stop()  # idempotent
        with pytest.raises(RuntimeError, match="already exists"):
            PostgresServer(Path(tmp)).start()
    assert elapsed < 10


# --- Redis ------------------------------------------------------------------------------------


def test_redis_answers_ping(redis_server: RedisServer):
    with redis.Redis.from_url(redis_server.url, socket_timeout=2) as client:
        assert client.ping() is True


def test_seeded_revocations_are_found_by_scan_with_a_ttl(redis_server: RedisServer):
    jtis = redis_server.seed_revocations(150)
    with redis.Redis.from_url(redis_server.url, socket_timeout=2, decode_responses=True) as client:
        keys = set(client.scan_iter(match="token:*", count=1000))
        assert {f"token:{jti}" for jti in jtis} <= keys
        assert client.get(f"token:{jtis[0]}") == "revoked"
        assert 3500 < client.ttl(f"token:{jtis[0]}") <= 3600


def test_stopped_redis_leaves_no_process(tmp_path: Path):
    server = RedisServer(tmp_path)
    server.start()
    pid = server.pid
    assert pid is not None and _alive(pid)
    server.stop()
    assert not _alive(pid) and not server.running
    server.stop()


# --- AWS (moto) -------------------------------------------------------------------------------


def test_files_point_boto3_at_the_sandbox_endpoint(aws: AwsServer, s3):
    assert s3.meta.endpoint_url == aws.endpoint_url
    assert s3.meta.region_name == aws.region
    assert stat.S_IMODE(aws.credentials_file.stat().st_mode) == 0o600


def test_bucket_policy_allows_the_app_role_to_put_objects(aws: AwsServer, s3):
    policy = json.loads(s3.get_bucket_policy(Bucket=aws.bucket)["Policy"])
    allowed = [
        s for s in policy["Statement"]
        if s["Effect"] == "Allow" and s["Principal"] == {"AWS": aws.role_arn}
        and "s3:PutObject" in s["Action"] and s["Resource"] == f"arn:aws:s3:::{aws.bucket}/*"
    ]
    assert allowed


def test_bucket_is_encrypted_with_the_kms_key_and_not_public(aws: AwsServer, s3):
    rule = s3.get_bucket_encryption(Bucket=aws.bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms",
                                                          "KMSMasterKeyID": aws.kms_key_arn}
    block = s3.get_public_access_block(Bucket=aws.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4


def test_objects_round_trip_with_kms_encryption(aws: AwsServer, s3):
    s3.put_object(Bucket=aws.bucket, Key="canary/test", Body=b"canary")
    try:
        head = s3.head_object(Bucket=aws.bucket, Key="canary/test")
        assert head["ServerSideEncryption"] == "aws:kms"
        assert s3.get_object(Bucket=aws.bucket, Key="canary/test")["Body"].read() == b"canary"
    finally:
        s3.delete_object(Bucket=aws.bucket, Key="canary/test")


def test_kms_key_behind_the_alias_is_enabled(aws: AwsServer, aws_session):
    kms = aws_session.client("kms")
    try:
        meta = kms.describe_key(KeyId=f"alias/{aws.bucket}")["KeyMetadata"]
    finally:
        kms.close()
    assert (meta["KeyId"], meta["Arn"], meta["KeyState"]) == (aws.kms_key_id, aws.kms_key_arn, "Enabled")
    assert meta["Description"]


def test_role_policy_grants_s3_and_kms_to_the_role(aws: AwsServer, aws_session):
    iam = aws_session.client("iam")
    try:
        document = iam.get_role_policy(RoleName="eks-app-backend-role", PolicyName="S3Access")["PolicyDocument"]
        role = iam.get_role(RoleName="eks-app-backend-role")["Role"]
    finally:
        iam.close()
    actions = {a for s in document["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListBucket",
            "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"} <= actions
    assert role["Arn"] == aws.role_arn
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Principal"]["Federated"].endswith("oidc.eks.us-east-1.amazonaws.com/id/SANDBOX")


def test_a_second_aws_server_in_the_same_process_is_refused(aws: AwsServer, tmp_path: Path):
    with pytest.raises(RuntimeError, match="already running"):
        AwsServer(tmp_path).start()


# --- the app stand-in -------------------------------------------------------------------------


def test_health_endpoints_report_version_and_dependencies(http: httpx.Client):
    assert http.get("/health/live").json() == {"status": "ok", "version": "1.4.2"}
    ready = http.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "postgres": "ok"}


def test_jwks_publishes_the_loaded_public_key_only(http: httpx.Client, app: AppStandIn, secret: FakeSecret):
    keys = http.get("/oauth/jwks.json").json()["keys"]
    assert len(keys) == 1
    (key,) = keys
    assert {k: key[k] for k in ("kty", "use", "alg", "kid")} == {"kty": "RSA", "use": "sig", "alg": "RS256",
                                                                 "kid": app.kid}
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    public = serialization.load_pem_public_key(secret.public)
    assert jwt.PyJWK(key).key.public_numbers() == public.public_numbers()


def test_issued_token_verifies_against_the_published_jwks(http: httpx.Client, app: AppStandIn):
    token = _token(http, "smoke-secret")
    jwks = jwt.PyJWKSet.from_dict(http.get("/oauth/jwks.json").json())
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, jwks[kid].key, algorithms=["RS256"], audience="app-backend",
                        issuer="https://api.ytvideocreator.com")
    assert claims["exp"] - claims["iat"] == 900 and claims["jti"]


def test_token_endpoint_rejects_a_wrong_client_secret(http: httpx.Client):
    response = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "smoke",
                                               "client_secret": "wrong"})
    assert (response.status_code, response.json()) == (401, {"error": "invalid_client"})


def test_me_accepts_a_token_until_its_jti_is_revoked(http: httpx.Client, redis_server: RedisServer):
    token = _token(http, "smoke-secret")
    response = _me(http, token)
    assert (response.status_code, response.json()["sub"]) == (200, "client:smoke")
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    with redis_server.client() as client:
        client.set(f"token:{jti}", "revoked", ex=3600)
    revoked = _me(http, token)
    assert revoked.status_code == 401
    assert revoked.json() == {"error": "invalid_token", "error_description": "token revoked"}


def test_me_rejects_garbage_and_missing_tokens(http: httpx.Client):
    assert _me(http, "not-a-jwt").json() == {"error": "invalid_token"}
    assert http.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize(
    ("fault", "status", "check"),
    [
        ("5xx", 503, lambda r: r.headers["content-type"].startswith("text/html")),
        ("malformed", 200, lambda r: not _is_json(r.text) and r.text.startswith('{"keys": [')),
        ("empty", 200, lambda r: r.json() == {"keys": []}),
    ],
)
def test_jwks_fault_changes_the_answer(http: httpx.Client, app: AppStandIn, fault, status, check):
    app.jwks_fault = fault
    try:
        response = http.get("/oauth/jwks.json")
    finally:
        app.jwks_fault = None
    assert response.status_code == status
    assert check(response)
    assert http.get("/oauth/jwks.json").json()["keys"][0]["kid"] == app.kid


def test_health_faults_fail_the_chosen_probe(http: httpx.Client, app: AppStandIn):
    app.health_fault = "ready"
    try:
        assert http.get("/health/live").status_code == 200
        assert http.get("/health/ready").status_code == 503
        app.health_fault = "live"
        assert http.get("/health/live").status_code == 503
    finally:
        app.health_fault = None
    assert http.get("/health/live").status_code == 200


def test_logs_hold_error_lines_but_never_a_token(http: httpx.Client, app: AppStandIn):
    token = _token(http, "smoke-secret")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert _me(http, tampered).status_code == 401
    logs = _all_logs(app)
    assert "ERROR auth: jwt validation failed: Signature verification failed" in logs
    assert "INFO app: starting app-backend version 1.4.2" in logs
    assert token not in logs and tampered not in logs and token.split(".")[1] not in logs
    with pytest.raises(KeyError):
        app.logs_for("production", "no-such-pod", "app-backend")


# --- app instances of their own (they break or rotate things) --------------------------------


def test_each_pod_log_keeps_only_its_last_5000_lines(redis_server: RedisServer, postgres: PostgresServer):
    stand_in = AppStandIn(key_loader=FakeSecret().load, redis_url=redis_server.url,
                          postgres_dsn=postgres.dsn("app"), version="1", pods=["p-1", "p-2"])
    with stand_in:
        for n in range(10_200):
            stand_in.log("INFO", f"filler {n}")
    lines = stand_in.logs_for("production", "p-1", "app-backend").splitlines()
    assert len(lines) == 5000
    assert lines[-1].endswith("filler 10198") and lines[0].endswith("filler 200")


def test_app_whose_secret_holds_garbage_does_not_start(redis_server: RedisServer, postgres: PostgresServer):
    stand_in = AppStandIn(key_loader=lambda: (b"not a key", b"not a key"), redis_url=redis_server.url,
                          postgres_dsn=postgres.dsn("app"), version="1", pods=["p"])
    with pytest.raises(ValueError):
        stand_in.start()
    assert not stand_in.running


def test_me_fails_closed_while_redis_is_down_and_recovers_after(tmp_path: Path, postgres: PostgresServer):
    server = RedisServer(tmp_path).start()
    stand_in = AppStandIn(key_loader=FakeSecret().load, redis_url=server.url, postgres_dsn=postgres.dsn("app"),
                          version="1", pods=["p"], client_secret="s")
    try:
        stand_in.start()
        jtis = server.seed_revocations(5)
        with httpx.Client(base_url=stand_in.url, timeout=5) as client:
            token = _token(client, "s")
            assert _me(client, token).status_code == 200
            server.suspend()
            down = _me(client, token)
            ready = client.get("/health/ready")
            server.resume()
            recovered = _me(client, token)
        with server.client() as redis_client:
            kept = redis_client.exists(*(f"token:{jti}" for jti in jtis))
    finally:
        stand_in.stop()
        server.stop()
    assert down.status_code == 503
    assert ready.status_code == 503 and ready.json()["failed"] == ["redis"]
    assert recovered.status_code == 200
    assert kept == 5, "the revocation list survives suspend/resume"
    log = stand_in.logs_for("production", "p", "app")
    assert "ERROR auth: revocation check failed: redis unavailable" in log


def test_readiness_fails_while_postgres_is_suspended_and_recovers_after(http: httpx.Client,
                                                                         postgres: PostgresServer):
    port = postgres.port
    postgres.suspend()
    try:
        down = http.get("/health/ready")
    finally:
        postgres.resume()
    assert down.status_code == 503 and down.json()["failed"] == ["postgres"]
    assert postgres.port == port
    assert http.get("/health/ready").status_code == 200
    with psycopg.connect(postgres.dsn("runbook_checks")) as conn:
        assert conn.execute("SELECT count(*) FROM videos").fetchone() == (10,)


def test_rotated_secret_is_ignored_until_the_keys_are_reloaded(tmp_path: Path, redis_server: RedisServer,
                                                                postgres: PostgresServer):
    secret = FakeSecret()
    stand_in = AppStandIn(key_loader=secret.load, redis_url=redis_server.url, postgres_dsn=postgres.dsn("app"),
                          version="1", pods=["p-1", "p-2"], client_secret="s")
    stand_in.start()
    try:
        with httpx.Client(base_url=stand_in.url, timeout=5) as client:
            old_kid = client.get("/oauth/jwks.json").json()["keys"][0]["kid"]
            secret.rotate()
            assert client.get("/oauth/jwks.json").json()["keys"][0]["kid"] == old_kid
            new_key = serialization.load_pem_private_key(secret.private, password=None)
            now = int(time.time())
            claims = {"iss": stand_in.issuer, "aud": stand_in.audience, "sub": "probe", "jti": "j1",
                      "iat": now, "exp": now + 60}
            signed_with_new = jwt.encode(claims, new_key, algorithm="RS256", headers={"kid": "new"})
            assert _me(client, signed_with_new).status_code == 401

            stand_in.reload_keys()
            assert client.get("/oauth/jwks.json").json()["keys"][0]["kid"] == stand_in.kid != old_kid
            assert _me(client, signed_with_new).status_code == 200
    finally:
        stand_in.stop()
    previous = stand_in.logs_for("production", "p-1", "app", previous=True) + stand_in.logs_for(
        "production", "p-2", "app", previous=True)
    assert "Signature verification failed (kid=new)" in previous
    assert "ERROR" not in stand_in.logs_for("production", "p-1", "app")
