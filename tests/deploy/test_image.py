"""The container image without a Docker engine: deploy/install.sh (the Dockerfile's install step)
runs into a temporary prefix, and the suite runs from there as an unprivileged user on a tree it
cannot write, with the runtime dependencies only."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.deploy.deploy_sandbox import running_sandbox
from tests.suite.runner import REPO

SANDBOX_ONLY = {"moto", "flask", "flask-cors", "kubernetes-validate", "junitparser", "xmlschema", "werkzeug"}
PYTHON = "/usr/bin/python3.11"  # Debian's, like the image's python:3.11-slim; readable by any user


def _pins(lock: Path) -> dict[str, str]:
    return {name.lower(): version for name, version in
            re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock.read_text(), re.M)}


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if not p.is_symlink()}


def _as_unprivileged(command: list[str], home: Path) -> list[str]:
    if os.geteuid() != 0:
        return command
    shutil.chown(home, "nobody")
    return ["runuser", "-u", "nobody", "--", *command]


def test_the_image_holds_only_the_runtime_dependencies_and_runs_the_suite_from_a_read_only_tree():
    if not Path(PYTHON).exists():
        pytest.skip(f"{PYTHON} (Debian's python3.11) is not installed")
    # Outside pytest's private tmp dirs: the unprivileged user must reach both.
    work = Path(tempfile.mkdtemp(prefix="runbook-image-", dir="/tmp"))
    prefix = work / "image"
    try:
        work.chmod(0o755)
        uv = Path(sys.executable).with_name("uv")
        install = subprocess.run(["sh", "deploy/install.sh", str(prefix), PYTHON], cwd=REPO,
                                 env={**os.environ, "UV": str(uv)}, capture_output=True, text=True,
                                 timeout=300)
        assert install.returncode == 0, install.stderr

        # The dependency set: exactly the runtime lock, which is the full lock minus the sandbox's.
        listed = subprocess.run(
            [str(prefix / "bin" / "python"), "-c", "import importlib.metadata as m, json; print(json.dumps("
             "{d.metadata['Name'].lower(): d.version for d in m.distributions()}))"],
            capture_output=True, text=True, timeout=60, check=True)
        installed = {n.replace("_", "-"): v for n, v in json.loads(listed.stdout).items()}
        runtime = {n.replace("_", "-"): v for n, v in _pins(REPO / "requirements-runtime.lock").items()}
        full = {n.replace("_", "-"): v for n, v in _pins(REPO / "requirements.lock").items()}
        assert installed == runtime
        assert not SANDBOX_ONLY & set(installed)
        assert SANDBOX_ONLY - {"werkzeug"} <= set(full)
        assert all(full[name] == version for name, version in runtime.items()), "the locks disagree"
        assert not (prefix / "app" / "sandbox").exists(), "the image holds sandbox modules"

        home = work / "home"
        reports = home / "reports"
        reports.mkdir(parents=True)
        before = _snapshot(prefix)
        with running_sandbox() as (state_dir, env_file):
            if os.geteuid() == 0:
                subprocess.run(["chown", "-R", "nobody", str(state_dir)], check=True)
            command = _as_unprivileged(
                ["env", f"HOME={home}", "PYTHONDONTWRITEBYTECODE=1", str(prefix / "bin" / "python"),
                 "-m", "pytest", "-m", "oauth", f"--env={env_file}", f"--reports-dir={reports}"], home)
            if os.geteuid() == 0:
                shutil.chown(reports, "nobody")
            assert os.access(reports, os.W_OK)
            run = subprocess.run(command, cwd=prefix / "app", capture_output=True, text=True, timeout=180,
                                 stdin=subprocess.DEVNULL)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        assert re.search(r"^=+ \d+ passed(, \d+ deselected)? in ", run.stdout, re.M), run.stdout[-1000:]
        assert {p.suffix for p in reports.iterdir()} == {".xml", ".md", ".json", ".html"}
        assert _snapshot(prefix) == before, "the run wrote into the installed tree"
    finally:
        shutil.rmtree(work, ignore_errors=True)
