"""`python -m sandbox up`, used by hand: kubectl sees production, a secret replaced with the
runbook's own `kubectl apply` is caught by the suite, nothing secret is printed, the suite only
reads, and `python -m sandbox down` leaves nothing running."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import ssl
import tomllib
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from sandbox import REDIS_PASSWORD_VAR
from sandbox.stack import generate_key_pair
from tests.suite.runner import REPO, assert_no_secrets, run_suite, sandbox_running

# One sandbox for the module, on one xdist worker (make test runs --dist loadgroup).
pytestmark = pytest.mark.xdist_group("sandbox-by-hand")


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def sandbox_up():
    """A sandbox started exactly as the README says, stopped with `python -m sandbox down`."""
    # Under the repository like the default .sandbox/, so `--env <file>` works as the README says.
    state_dir = REPO / ".sandbox" / f"test-{uuid.uuid4().hex[:8]}"
    with sandbox_running(state_dir) as (process, env_file):
        yield process, state_dir, env_file


def replace_jwt_keys_by_hand(kubeconfig: Path, workdir: Path) -> None:
    """The runbook's own command: a new key pair into secret jwt-keys with kubectl apply."""
    private, public = generate_key_pair()
    (workdir / "jwt-private.pem").write_text(private)
    (workdir / "jwt-public.pem").write_text(public)
    manifest = subprocess.run(
        ["kubectl", "create", "secret", "generic", "jwt-keys", "-n", "production",
         f"--from-file=private={workdir / 'jwt-private.pem'}", f"--from-file=public={workdir / 'jwt-public.pem'}",
         "--dry-run=client", "-o", "yaml"], capture_output=True, text=True, timeout=30, check=True).stdout
    applied = kubectl(kubeconfig, "apply", "-f", "-", stdin=manifest)
    assert applied.returncode == 0 and "secret/jwt-keys configured" in applied.stdout, applied.stderr


def known_secrets(state_dir: Path, kubeconfig: Path) -> list[str]:
    """Every secret value the sandbox holds: tokens, passwords, and the key material in jwt-keys."""
    config = yaml.safe_load(kubeconfig.read_text())
    values = [u["user"]["token"] for u in config["users"]]
    for line in (state_dir / "postgres" / "pgpass").read_text().splitlines():
        values.append(line.rsplit(":", 1)[1])
    secret = json.loads(kubectl(kubeconfig, "get", "secret", "jwt-keys", "-n", "production", "-o", "json").stdout)
    for encoded in secret["data"].values():
        values.append(encoded[40:100])  # a slice of the base64 as stored
        pem = __import__("base64").b64decode(encoded).decode()
        body = "".join(pem.strip().splitlines()[1:-1])
        values.append(body[40:100])  # a slice of the PEM body
    return values


def test_kubectl_lists_the_app_backend_pods(sandbox_up):
    _, _, env_file = sandbox_up
    kubeconfig = Path(tomllib.loads(env_file.read_text())["kubernetes"]["kubeconfig"])
    result = kubectl(kubeconfig, "get", "pods", "-n", "production")
    assert result.returncode == 0, result.stderr
    assert len(re.findall(r"^app-backend-\S+\s+1/1\s+Running", result.stdout, re.M)) == 3, result.stdout


def test_a_secret_replaced_by_hand_fails_the_key_match_check_without_printing_secrets(sandbox_up, tmp_path):
    _, state_dir, env_file = sandbox_up
    kubeconfig = Path(tomllib.loads(env_file.read_text())["kubernetes"]["kubeconfig"])
    healthy = run_suite(tmp_path, "-m", "oauth", "--env", str(env_file))
    assert healthy.returncode == 0, healthy.output
    before = known_secrets(state_dir, kubeconfig)

    replace_jwt_keys_by_hand(kubeconfig, tmp_path)

    run = run_suite(tmp_path, "-m", "oauth", "--env", str(env_file), "-l", "--tb=long", "-vv")
    assert run.returncode == 1, run.output
    assert run.cases["test_oauth.py::test_signing_key_is_published_in_jwks"].outcome == "failed"
    assert_no_secrets(run.everything(), before + known_secrets(state_dir, kubeconfig))


def test_the_printed_rollout_restart_resolves_the_key_mismatch(sandbox_up, tmp_path):
    """The rehearsal loop: break, detect, run the printed command as printed, verify."""
    _, _, env_file = sandbox_up
    replace_jwt_keys_by_hand(Path(tomllib.loads(env_file.read_text())["kubernetes"]["kubeconfig"]), tmp_path)
    broken = run_suite(tmp_path, "-m", "oauth", "--env", str(env_file))
    assert broken.returncode == 1
    command = next(line.strip().removeprefix("$ ") for line in broken.output.splitlines()
                   if "$ kubectl rollout restart deployment app-backend -n production" in line)
    restarted = subprocess.run(command.split(), capture_output=True, text=True, timeout=60)
    assert restarted.returncode == 0, restarted.stderr
    status = subprocess.run(command.replace("rollout restart deployment app-backend",
                                            "rollout status deployment/app-backend").split(),
                            capture_output=True, text=True, timeout=60)
    assert "successfully rolled out" in status.stdout, status.stderr
    fixed = run_suite(tmp_path, "-m", "oauth", "--env", str(env_file))
    assert fixed.returncode == 0, fixed.output


def test_a_secret_the_rbac_does_not_grant_is_could_not_verify_without_a_runbook_remediation(sandbox_up, tmp_path):
    """deploy/kubernetes/rbac.yaml grants `get` on jwt-keys only: another secret is a 403, reported as the
    suite's own access problem, not as corrupted keys to regenerate."""
    _, state_dir, env_file = sandbox_up
    other = state_dir / "other-secret.toml"
    other.write_text(env_file.read_text().replace('secret_name = "jwt-keys"', 'secret_name = "db-credentials"'))
    run = run_suite(tmp_path, "-m", "oauth", "--env", str(other))
    assert run.returncode == 1
    blocked = {c.name for c in run.cases.values() if c.outcome == "error"}
    assert "test_oauth.py::test_jwt_keys_secret_holds_a_key_pair" in blocked
    case = run.cases["test_oauth.py::test_jwt_keys_secret_holds_a_key_pair"]
    assert "the suite's service account may not get secrets/db-credentials in production" in case.text
    assert "grant it in deploy/kubernetes/rbac.yaml" in case.text
    assert "remediation" not in case.properties
    assert "no runbook remediation applies" in run.output
    assert "python scripts/generate_jwt_keys.py" not in run.output


def test_a_watched_namespace_that_does_not_exist_is_could_not_verify_never_all_pods_running(sandbox_up, tmp_path):
    """A pod list of a namespace that does not exist is an empty 200 (as kube-apiserver answers):
    a mistyped outage.namespaces entry must not read as "every pod there runs"."""
    _, state_dir, env_file = sandbox_up
    typo = state_dir / "namespace-typo.toml"
    typo.write_text(env_file.read_text() + '\n[outage]\nnamespaces = ["production", "ingres-nginx"]\n')
    run = run_suite(tmp_path, "-m", "outage", "-k", "test_no_pod_is_outside_running_or_succeeded", "--env", str(typo))
    assert run.returncode == 1, run.output
    case = run.cases["test_outage.py::test_no_pod_is_outside_running_or_succeeded"]
    assert case.outcome == "error", case.text
    assert "namespace ingres-nginx does not exist in the cluster, so the pods there cannot be checked" in case.text
    assert "outage.namespaces = ('production', 'ingres-nginx')" in case.text
    assert "remediation" not in case.properties
    healthy = run_suite(tmp_path, "-m", "outage", "-k", "test_no_pod_is_outside_running_or_succeeded", "--env", str(env_file))
    assert healthy.returncode == 0, healthy.output


def test_the_suite_only_reads_from_the_cluster(sandbox_up, tmp_path):
    _, _, env_file = sandbox_up
    config = tomllib.loads(env_file.read_text())
    kubeconfig = yaml.safe_load(Path(config["kubernetes"]["kubeconfig"]).read_text())
    admin = next(u["user"]["token"] for u in kubeconfig["users"] if u["name"] == "sandbox-admin")
    run_suite(tmp_path, "-m", "oauth", "--env", str(env_file))
    ca = kubeconfig["clusters"][0]["cluster"]["certificate-authority"]
    server = kubeconfig["clusters"][0]["cluster"]["server"]
    audit = httpx.get(f"{server}/sandbox/audit", headers={"Authorization": f"Bearer {admin}"}, verify=ssl.create_default_context(cafile=ca)).json()
    suite = [r for r in audit["items"] if r["user"] == "system:serviceaccount:runbook-checks:runbook-checks"]
    assert {(r["resource"], r["subresource"]) for r in suite} >= {("pods", ""), ("secrets", ""), ("pods", "log")}
    assert {r["verb"] for r in suite} <= {"get", "list"}, suite


def test_a_deny_bucket_policy_put_by_hand_fails_the_s3_checks_naming_its_sid(sandbox_up, tmp_path):
    """boto3 by hand, with the credential files the environment file names: a Deny on the app role's
    PutObject is caught, its Sid named and the `aws` commands rendered; no canary is left behind."""
    import boto3
    import botocore.session

    _, _, env_file = sandbox_up
    aws = tomllib.loads(env_file.read_text())["aws"]
    core = botocore.session.Session()
    core.set_config_variable("credentials_file", aws["credentials_file"])
    core.set_config_variable("config_file", aws["config_file"])
    s3 = boto3.session.Session(botocore_session=core, profile_name=aws["profile"]).client("s3")
    original = s3.get_bucket_policy(Bucket=aws["bucket"])["Policy"]
    policy = json.loads(original)
    policy["Statement"].append({"Sid": "HandMadeDeny", "Effect": "Deny",
                                "Principal": {"AWS": f"arn:aws:iam::123456789012:role/{aws['role_name']}"},
                                "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{aws['bucket']}/*"})
    s3.put_bucket_policy(Bucket=aws["bucket"], Policy=json.dumps(policy))
    try:
        run = run_suite(tmp_path, "-m", "s3", "--env", str(env_file))
    finally:
        s3.put_bucket_policy(Bucket=aws["bucket"], Policy=original)
    assert run.returncode == 1, run.output
    case = run.cases["test_s3.py::test_bucket_policy_lets_the_app_role_upload"]
    assert case.outcome == "failed" and 'denied by statement Sid "HandMadeDeny"' in case.text
    assert f"aws s3api get-bucket-policy --bucket {aws['bucket']} --endpoint-url {aws['endpoint_url']}" in run.output
    assert 'Remove statement Sid "HandMadeDeny" from the bucket policy' in run.output
    assert s3.list_objects_v2(Bucket=aws["bucket"], Prefix="runbook-checks/canary/")["KeyCount"] == 0
    s3.close()


def test_sandbox_down_stops_every_service(sandbox_up):
    process, state_dir, env_file = sandbox_up
    config = tomllib.loads(env_file.read_text())
    ports = [int(re.search(r":(\d+)", config[s][k]).group(1))
             for s, k in (("redis", "url"), ("app", "base_url"), ("aws", "endpoint_url"))]
    ports.append(int(re.search(r"port=(\d+)", config["postgres"]["dsn"]).group(1)))
    down = subprocess.run([sys.executable, "-m", "sandbox", "down", "--state-dir", str(state_dir)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert process.wait(timeout=30) == 0
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
    assert not state_dir.exists()
    assert not any(f"postgres -D {state_dir}" in line for line in
                   subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines())
    assert os.path.exists(REPO)  # the repository is untouched by the sandbox's cleanup


def test_the_commands_the_banner_prints_work_for_a_state_dir_outside_the_repository(tmp_path):
    """`python -m sandbox up --state-dir /elsewhere`: pytest chooses its rootdir from path-like
    words, so `--env /elsewhere/environment.toml` (two words) would miss the project's configuration
    ("unrecognized arguments: --env"); the banner prints the one-word form, and a redis-cli line that
    authenticates."""
    with sandbox_running(tmp_path / "state") as (process, env_file):
        banner = []
        while not banner or not banner[-1].startswith("Ctrl-C"):
            banner.append(process.stdout.readline())
            assert banner[-1], "".join(banner)
        commands = [line.strip() for line in banner if line.startswith("  ") and line.strip()]
        path = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        path.pop(REDIS_PASSWORD_VAR, None)  # the pytest line must not need it exported by hand
        pytest_line = next(c for c in commands if c.startswith("pytest "))
        assert pytest_line == f"pytest -p sandbox.plugin -m oauth --env={env_file}"
        suite = subprocess.run(["bash", "-c", f"{pytest_line} -p no:cacheprovider -q"], cwd=REPO, env=path,
                               capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert suite.returncode == 0, suite.stdout[-2000:] + suite.stderr[-2000:]
        redis_line = next(c for c in commands if "redis-cli" in c)
        pong = subprocess.run(["bash", "-c", redis_line], env=path, capture_output=True, text=True, timeout=30)
        assert pong.stdout.strip() == "PONG", pong.stdout + pong.stderr
