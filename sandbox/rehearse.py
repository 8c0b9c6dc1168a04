"""``python -m sandbox rehearse DRILL [--auto]``: play a drill to the end, as an on-call engineer would.

1. Start the sandbox with the drill (``python -m sandbox up --drill DRILL``, in its own process).
2. Run the drill's marker against it and show the suggested remediation.
3. With ``--auto``: run the printed commands exactly as printed, each in ``bash -c`` with only what the
   README tells an engineer to have (the venv's bin first on PATH, the Redis password and the AWS
   credential files exported), in the order printed, remediation by remediation, most urgent first;
   the CAUTION steps only when the marker still fails after every other step. The re-run step is the
   marker run again. Then say resolved or not, and which commands failed as printed.

The commands run in an empty working directory, as from an engineer's home: every file they leave
there is listed with its mode, and a file readable by others, or any output or file holding one of
the sandbox's secrets (the Redis, PostgreSQL and smoke-client passwords, the AWS secret keys),
fails the rehearsal.

Nothing here reaches beyond the sandbox: the commands are the ones the suite printed for it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Rehearsal", "Step", "files_left", "parse_steps", "rehearse", "sandbox_secrets"]

REPO = Path(__file__).resolve().parent.parent
COMMAND_SECONDS = 180  # every printed wait is bounded (--timeout); this is the backstop
_STEP = re.compile(r"^(\d+)\. (CAUTION: )?(.*)$")


@dataclass(frozen=True)
class Step:
    remediation: str
    number: int
    text: str
    command: str | None
    caution: bool

    @property
    def is_rerun(self) -> bool:
        """The step that re-runs the checks (the rehearsal runs the marker itself)."""
        return self.command is not None and " -m pytest " in f" {self.command} "


@dataclass
class Rehearsal:
    drill: str
    failing_before: list[str] = field(default_factory=list)
    failing_after: list[str] = field(default_factory=list)
    ran: list[tuple[Step, int, str]] = field(default_factory=list)  # step, exit code, output tail
    left: list[tuple[str, int]] = field(default_factory=list)  # files the commands left: name, mode
    leaks: list[str] = field(default_factory=list)  # where a secret showed: "output of step 2", "file x"

    @property
    def resolved(self) -> bool:
        return bool(self.failing_before) and not self.failing_after

    @property
    def failed_as_printed(self) -> list[tuple[Step, int, str]]:
        return [(step, code, tail) for step, code, tail in self.ran if code != 0]

    @property
    def safe(self) -> bool:
        """No secret printed or written, and no file readable by others left behind."""
        return not self.leaks and all(mode & 0o077 == 0 for _, mode in self.left)

    @property
    def by_caution(self) -> bool:
        return any(step.caution for step, _, _ in self.ran)


def parse_steps(remediation: str, text: str) -> list[Step]:
    """The numbered steps of a rendered remediation (``1. text`` then ``   $ command``)."""
    steps: list[Step] = []
    for line in text.splitlines():
        match = _STEP.match(line)
        if match:
            steps.append(Step(remediation, int(match.group(1)), match.group(3), None, bool(match.group(2))))
        elif line.startswith("   $ ") and steps:
            last = steps[-1]
            steps[-1] = Step(last.remediation, last.number, last.text, line[len("   $ "):], last.caution)
    return steps


def _engineer_env(state_dir: Path, env_file: Path) -> dict[str, str]:
    """What the README tells an engineer to have in their shell for the sandbox, and nothing else."""
    from sandbox import REDIS_PASSWORD_FILE, REDIS_PASSWORD_VAR

    config = tomllib.loads(env_file.read_text())
    aws = config.get("aws", {})
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
        REDIS_PASSWORD_VAR: (state_dir / REDIS_PASSWORD_FILE).read_text().strip(),
    }
    for variable, key in (("AWS_SHARED_CREDENTIALS_FILE", "credentials_file"), ("AWS_CONFIG_FILE", "config_file")):
        if aws.get(key):
            env[variable] = aws[key]
    return env


def sandbox_secrets(state_dir: Path, env: dict[str, str]) -> list[str]:
    """The secret values the sandbox handed out: what no printed command may print or leave in a file."""
    from sandbox import REDIS_PASSWORD_VAR

    found = [env.get(REDIS_PASSWORD_VAR, "")]
    for pgpass in state_dir.glob("postgres/pgpass"):
        found += [line.rsplit(":", 1)[-1] for line in pgpass.read_text().splitlines() if line.strip()]
    smoke = state_dir / "smoke-client-secret"
    if smoke.exists():
        found.append(smoke.read_text().strip())
    credentials = Path(env.get("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"))
    if credentials.exists():
        found += [line.split("=", 1)[1].strip() for line in credentials.read_text().splitlines()
                  if line.replace(" ", "").startswith("aws_secret_access_key=")]
    return [value for value in found if len(value) >= 8]


def files_left(workdir: Path, secrets: list[str]) -> tuple[list[tuple[str, int]], list[str]]:
    """Every file under ``workdir`` (name, mode) and those that hold one of ``secrets``."""
    left, leaks = [], []
    for path in sorted(p for p in workdir.rglob("*") if p.is_file()):
        name = str(path.relative_to(workdir))
        left.append((name, path.stat().st_mode & 0o777))
        text = path.read_bytes().decode("utf-8", "replace")
        if any(secret in text for secret in secrets):
            leaks.append(f"file {name}")
    return left, leaks


def _run_marker(incident: str, env_file: Path, env: dict[str, str]) -> tuple[list[str], list[Step], str]:
    """The marker against the sandbox: the failing node ids, the steps suggested, the terminal output."""
    with tempfile.TemporaryDirectory(prefix="rehearse-") as tmp:
        records = Path(tmp) / "records.json"
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-m", incident, f"--env={env_file}", "-p", "no:cacheprovider",
             f"--runbook-json={records}", "-q"],
            cwd=REPO, env={**env, "PYTHONDONTWRITEBYTECODE": "1"}, capture_output=True, text=True, timeout=300)
        document = json.loads(records.read_text()) if records.exists() else {"checks": []}
    failing = [c["nodeid"] for c in document["checks"] if c["outcome"] in ("failed", "error")]
    steps: list[Step] = []
    seen: set[str] = set()
    for check in sorted(document["checks"], key=lambda c: _priority(c.get("remediation", ""))):
        remediation = check.get("remediation") or ""
        if check["outcome"] in ("failed", "error") and remediation and remediation not in seen:
            seen.add(remediation)
            steps += parse_steps(remediation, check.get("remediation_steps", ""))
    return failing, steps, result.stdout


@functools.cache
def _catalog():
    from runbook.catalog import load_catalog

    return load_catalog()


def _priority(remediation: str) -> tuple[int, str]:
    entry = _catalog().get(remediation) if remediation else None
    return (getattr(entry, "priority", 99), remediation)


def rehearse(drill: str, *, auto: bool, kube: str | None = None, out=print) -> Rehearsal:
    from sandbox.drills import DRILLS

    if drill not in DRILLS:
        raise SystemExit(f"unknown drill {drill!r}: `python -m sandbox drills` lists them")
    incident = DRILLS[drill].incident
    rehearsal = Rehearsal(drill)
    with tempfile.TemporaryDirectory(prefix="rehearsal-", dir=REPO / ".sandbox" if (REPO / ".sandbox").is_dir() else None) as tmp:
        state_dir = Path(tmp) / "sandbox"
        argv = [sys.executable, "-m", "sandbox", "up", "--state-dir", str(state_dir), "--drill", drill]
        if kube:
            argv += ["--kube", kube]
        up = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 300
            while not (state_dir / "ready").exists():
                if up.poll() is not None:
                    raise SystemExit(f"the sandbox did not start: {(up.stderr.read() or '').strip()[-500:]}")
                if time.monotonic() > deadline:
                    raise SystemExit("the sandbox did not start within 300 s")
                time.sleep(0.1)
            env_file = Path((state_dir / "ready").read_text())
            env = _engineer_env(state_dir, env_file)
            out(f"rehearsal of {drill}: pytest -m {incident} --env={env_file}")
            rehearsal.failing_before, steps, output = _run_marker(incident, env_file, env)
            summary = output.split("Suggested remediation", 1)
            out(("Suggested remediation" + summary[1]) if len(summary) == 2 else output[-3000:])
            if not auto:
                return rehearsal
            secrets = sandbox_secrets(state_dir, env)
            workdir = Path(tmp) / "shell"
            workdir.mkdir()
            for caution in (False, True):
                for step in steps:
                    if step.command is None or step.caution != caution or step.is_rerun:
                        continue
                    out(f"$ {step.command}")
                    try:
                        done = subprocess.run(["bash", "-c", step.command], cwd=workdir, env=env, capture_output=True,
                                              text=True, timeout=COMMAND_SECONDS, stdin=subprocess.DEVNULL)
                        code, output = done.returncode, done.stdout + done.stderr
                    except subprocess.TimeoutExpired:
                        code, output = 124, f"still running after {COMMAND_SECONDS} s"
                    if any(secret in output for secret in secrets):
                        rehearsal.leaks.append(f"output of {step.remediation} step {step.number}")
                    tail = output.strip()[-400:]
                    for secret in secrets:
                        tail = tail.replace(secret, "[secret]")
                    rehearsal.ran.append((step, code, tail))
                    out(f"  exit {code}" + (f": {tail.splitlines()[-1]}" if code and tail else ""))
                rehearsal.failing_after, steps_after, _ = _run_marker(incident, env_file, env)
                if not rehearsal.failing_after:
                    break
                steps = steps_after if caution is False else steps
            rehearsal.left, leaked_files = files_left(workdir, secrets)
            rehearsal.leaks += leaked_files
            out("files the printed commands left: " + (", ".join(f"{name} ({mode:04o})" for name, mode in rehearsal.left)
                                                        or "none"))
            if rehearsal.leaks:
                out("SECRET EXPOSED by the printed commands: " + "; ".join(rehearsal.leaks))
            verdict = "RESOLVED" if rehearsal.resolved else f"NOT RESOLVED: still failing {rehearsal.failing_after}"
            how = " (with a CAUTION step)" if rehearsal.resolved and rehearsal.by_caution else ""
            failed = rehearsal.failed_as_printed
            out(f"{verdict}{how}; {len(rehearsal.ran)} commands run, {len(failed)} failed as printed")
            return rehearsal
        finally:
            if up.poll() is None:
                up.send_signal(signal.SIGTERM)
                try:
                    up.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    up.kill()
                    up.wait()
            if up.stderr is not None:
                up.stderr.close()


def main(args) -> int:
    rehearsal = rehearse(args.drill, auto=args.auto, kube=args.kube)
    if not args.auto:
        return 0
    return 0 if rehearsal.resolved and rehearsal.safe and not rehearsal.failed_as_printed else 1

