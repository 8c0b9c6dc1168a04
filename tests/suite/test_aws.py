"""The S3 and breach checks against a sandbox this test process holds, so it can break the AWS
endpoint the way real ones break: healthy, refused, blackholed, forbidden, expired, and a run
killed with SIGKILL in the middle of the canary upload."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from sandbox.ports import free_port
from tests.suite.runner import REPO, SANDBOX_PLUGIN, assert_no_secrets, run_suite

# One in-process sandbox (moto's state is per process) for the module, on one xdist worker.
pytestmark = pytest.mark.xdist_group("aws-in-process")

CANARY_PREFIX = "runbook-checks/canary/"
CANARY = "test_s3.py::test_canary_upload_round_trip_succeeds_within_budget"


@pytest.fixture(scope="module")
def sandbox():
    from sandbox.stack import Sandbox

    stack = Sandbox(REPO / ".sandbox" / f"test-aws-{uuid.uuid4().hex[:8]}")
    env_file = stack.start()
    yield stack, env_file
    stack.stop()
    stack.remove_state()


@pytest.fixture
def healed(sandbox):
    yield sandbox
    sandbox[0].faults.aws_fault(None)


def canaries(stack) -> list[str]:
    listed = stack.faults.aws("s3").list_objects_v2(Bucket=stack.aws.bucket, Prefix=CANARY_PREFIX)
    return [item["Key"] for item in listed.get("Contents", [])]


def variant(env_file, tmp_path, old: str, new: str):
    """A copy of the sandbox's environment file with one line changed (beside it: same password)."""
    text = env_file.read_text()
    assert old in text
    path = env_file.with_name(f"variant-{uuid.uuid4().hex[:6]}.toml")
    path.write_text(text.replace(old, new, 1))
    return path


def test_every_s3_and_breach_check_passes_on_the_healthy_sandbox_and_leaves_no_canary(sandbox, tmp_path):
    stack, env_file = sandbox
    run = run_suite(tmp_path, "-m", "s3 or breach", f"--env={env_file}", "-l", "--tb=long")
    assert run.returncode == 0, run.output
    assert len(run.cases) == 17 and run.names("passed") == set(run.cases), run.output
    assert "Suggested remediation" not in run.output
    assert canaries(stack) == []
    assert_no_secrets(run.everything(), [stack.redis.password])


def test_s3_without_prevention_is_the_investigation_alone_and_db_pool_imports_no_boto3(sandbox, tmp_path):
    _, env_file = sandbox
    listed = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *SANDBOX_PLUGIN, "--collect-only", "-q",
                             "-m", "s3 and not prevention", f"--env={env_file}"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    selected = [line for line in listed.stdout.splitlines() if line.startswith("checks/")]
    assert len(selected) == 8 and not any("alarm" in line for line in selected), listed.stdout
    probe = tmp_path / "probe"
    probe.mkdir()
    run = run_suite(tmp_path, "-m", "db_pool", f"--env={env_file}", "-p", "tests.suite.envprobe",
                    env={"ENVPROBE_DIR": str(probe)})
    assert run.returncode in (0, 5), run.output  # 5: no db_pool checks on this branch yet
    modules = set((probe / "controller.modules").read_text().split())
    assert not modules & {"boto3", "botocore", "moto"}, modules


def faulted_run(stack, env_file, tmp_path, fault: str):
    """One -m s3 run with the AWS endpoint broken the given way."""
    if fault == "refused":  # nothing listens on the configured endpoint
        env_file = variant(env_file, tmp_path, f'endpoint_url = "{stack.aws.endpoint_url}"',
                           f'endpoint_url = "http://127.0.0.1:{free_port()}"')
    else:
        stack.faults.aws_fault(fault)
        if fault == "blackhole":
            env_file = variant(env_file, tmp_path, "[aws]\n", "[aws]\nread_timeout_seconds = 2\n")
    return run_suite(tmp_path, "-m", "s3", f"--env={env_file}", "-l", "--tb=long")


@pytest.mark.parametrize("fault,cause", [
    ("refused", "unreachable for sts:GetCallerIdentity"),
    ("blackhole", "did not answer sts:GetCallerIdentity within aws.read_timeout_seconds = 2.0 s"),
    ("access-denied", "AWS denies the suite's own identity"),
    ("expired-credentials", "AWS rejected the credentials of the suite's own identity (ExpiredToken"),
])
def test_the_suites_own_aws_access_failing_is_could_not_verify_in_one_sentence(healed, tmp_path, fault, cause):
    stack, env_file = healed
    run = faulted_run(stack, env_file, tmp_path, fault)
    assert run.returncode == 1, run.output
    assert run.names("failed") == set(), run.output
    errored = run.names("error")
    assert len(errored) == 9, run.output  # every S3 check needs AWS; none is reported unhealthy
    for name in errored:
        assert cause in run.cases[name].text, run.cases[name].text
    assert "no runbook remediation applies" in run.output
    assert "Traceback" not in run.output
    if fault == "blackhole":  # one read timeout for the whole run, not one per check (9 checks: 18 s)
        spent = sum(float(case.get("time")) for case in ET.fromstring(run.xml).iter("testcase"))
        assert spent < 2 * 2 + 1, f"a blackholed endpoint (2 s read timeout) cost the checks {spent:.1f} s"


def test_a_run_killed_during_the_canary_leaves_one_canary_that_the_next_run_removes(healed, tmp_path):
    stack, env_file = healed
    stack.faults.aws_fault("stall-object-reads")  # the canary's HeadObject never answers
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *SANDBOX_PLUGIN, "-m", "s3", "-k", "canary",
               f"--env={env_file}"]
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "RUNBOOK_"))}
    process = subprocess.Popen(command, cwd=REPO, env=environ, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not canaries(stack):
            assert process.poll() is None and time.monotonic() < deadline, "no canary was ever put"
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=10)
    stack.faults.aws_fault(None)
    left = canaries(stack)
    assert len(left) == 1 and left[0].startswith(CANARY_PREFIX)
    time.sleep(1.1)  # S3 times are in whole seconds
    # The next run treats canaries older than s3.canary_stale_after_seconds as left by a killed run.
    next_env = variant(env_file, tmp_path, "assume_app_role = true\n",
                       "assume_app_role = true\ncanary_stale_after_seconds = 1\n")
    run = run_suite(tmp_path, "-m", "s3", "-k", "canary", f"--env={next_env}")
    assert run.returncode == 0, run.output
    assert run.cases[CANARY].outcome == "passed"
    assert canaries(stack) == []
