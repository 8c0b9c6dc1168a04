"""The pytest side of the sandbox: ``--env sandbox`` (the default) and ``--drill NAME``.

Loaded only with ``-p sandbox.plugin`` (``make check``, the project's tests, ``python -m sandbox``),
never by the suite's conftest: a run against production imports no sandbox module.

The xdist controller (or the single process without xdist) starts the sandbox once, as a child
process (``python -m sandbox up``), before any worker exists; workers receive its environment file
through ``workerinput``. The child watches this process and stops itself if pytest dies, and is
stopped (every service, its state dir removed) when the session ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sandbox import REDIS_PASSWORD_FILE, REDIS_PASSWORD_VAR
from sandbox.process import terminate
from sandbox.keytypes import KEY_TYPES

__all__ = ["SANDBOX_ENV_FILE"]

SANDBOX = "sandbox"
WORKERINPUT_KEY = "runbook_sandbox_env_file"
SANDBOX_ENV_FILE = pytest.StashKey[Path]()
_REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("runbook")
    group.addoption("--drill", metavar="NAME", default=None,
                    help="inject one runbook incident into the sandbox first "
                         "(list: python -m sandbox drills)")
    group.addoption("--sandbox-key-type", metavar="TYPE", default="rsa", choices=KEY_TYPES,
                    help="the sandbox's signing key: rsa (RS256, default), ec (P-256, ES256) or ed25519 (EdDSA)")


def pytest_configure(config: pytest.Config) -> None:
    drill = config.getoption("drill")
    if drill:
        from sandbox.drills import DRILLS

        if drill not in DRILLS:
            raise pytest.UsageError(f"unknown drill {drill!r} from --drill; known: {', '.join(DRILLS)}")


def pytest_runbook_default_environment(config: pytest.Config) -> str:
    """With this plugin loaded, the sandbox is what a run checks unless told otherwise."""
    return SANDBOX


@pytest.hookimpl(optionalhook=True)
def pytest_runbook_drills(config: pytest.Config, check: str) -> list[str]:
    """For ``pytest --runbook-steps``: the drills that rehearse a check (those that must fail it)."""
    from sandbox.drills import failing

    return failing(check)


def pytest_runbook_environment_file(config: pytest.Config, name: str) -> Path | None:
    drill = config.getoption("drill")
    if name != SANDBOX:
        if drill:
            raise pytest.UsageError(f"--drill {drill} works only against the sandbox, not --env {name}")
        if "/" in name or name.endswith(".toml"):  # a file of `python -m sandbox up`: its Redis password too
            export_redis_password(Path(name).expanduser().resolve().parent)
        return None
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        path = Path(workerinput[WORKERINPUT_KEY])
    else:
        path = _start(config, drill)
        config.stash[SANDBOX_ENV_FILE] = path
    export_redis_password(path.parent)
    return path


def export_redis_password(state_dir: Path) -> None:
    """Set the variable the sandbox's environment file references for its Redis password, from the
    sandbox's 0600 file (in this process; xdist workers do the same from the same file)."""
    try:
        os.environ[REDIS_PASSWORD_VAR] = (state_dir / REDIS_PASSWORD_FILE).read_text(encoding="utf-8")
    except OSError:
        pass  # a sandbox without a Redis password


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist: hand the running sandbox's environment file to each worker."""
    path = node.config.stash.get(SANDBOX_ENV_FILE, None)
    if path is not None:
        node.workerinput[WORKERINPUT_KEY] = str(path)


def _start(config: pytest.Config, drill: str | None) -> Path:
    state_dir = Path(tempfile.mkdtemp(prefix="runbook-sandbox-"))
    log_path = state_dir.with_name(state_dir.name + ".log")
    command = [sys.executable, "-m", "sandbox", "up", "--state-dir", str(state_dir),
               "--parent-pid", str(os.getpid())]
    if drill:
        command += ["--drill", drill]
    command += ["--key-type", config.getoption("sandbox_key_type")]
    log = open(log_path, "wb")
    process = subprocess.Popen(command, cwd=_REPO, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)

    def stop() -> None:
        terminate(process, timeout=20)
        log.close()
        log_path.unlink(missing_ok=True)

    config.add_cleanup(stop)
    ready = state_dir / "ready"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            log.flush()
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise pytest.UsageError(
                f"the sandbox did not start ({'exit code ' + str(process.returncode) if process.returncode is not None else f'not ready in {START_TIMEOUT_S} s'}): "
                f"{tail[0]}; run `python -m sandbox up` to see the whole output"
            )
        time.sleep(0.05)
    return Path(ready.read_text())
