"""``python -m bench``: the figures the issues name, measured and written to bench/results/.

- sandbox start: ``python -m sandbox up`` until its environment file is ready (target < 5 s);
- the on-call verdict: ``pytest -m oauth`` wall time against the sandbox, healthy and under drills;
- a hung dependency: a JWKS URL that accepts connections and never answers costs one timeout for
  the whole run, not one per check;
- collection: ``pytest -m oauth --collect-only`` (import cost);
- every dependency blackholed at once: the whole suite within one timeout + 3 s, serial and
  ``-n 2`` (``bench/results/blackholed.md``; ``python -m bench blackholed`` measures only that).

Each figure is the median of a few runs; the file records the machine and the date.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import REPO, compile_project

RESULTS = REPO / "bench" / "results"


def timed(command: list[str], *, env: dict | None = None, ok: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})}, timeout=600)
    elapsed = time.perf_counter() - started
    if result.returncode not in ok:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return elapsed


def sandbox_start() -> float:
    """Seconds from `python -m sandbox up` to its ready file (the process includes Python start-up)."""
    with tempfile.TemporaryDirectory() as parent:
        state = Path(parent) / "state"
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "sandbox", "up", "--state-dir", str(state),
                                    "--parent-pid", str(os.getpid())], cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not (state / "ready").exists():
                if process.poll() is not None:
                    raise SystemExit("sandbox exited before it was ready")
                time.sleep(0.01)
            return time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(timeout=30)


def pytest_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "sandbox.plugin", "-q", *args]


class SilentServer:
    """Accepts TCP connections on loopback and never answers: a hung dependency."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = self.socket.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.socket.settimeout(0.2)
        while not self.stop.is_set():
            try:
                self.held.append(self.socket.accept()[0])
            except OSError:
                continue

    def close(self) -> None:
        self.stop.set()
        for connection in self.held:
            connection.close()
        self.socket.close()


def hung_jwks(timeout_s: float) -> float:
    """`pytest -m oauth` against an environment whose JWKS URL never answers."""
    server = SilentServer()
    with tempfile.TemporaryDirectory() as parent:
        env_file = Path(parent) / "hung.toml"
        env_file.write_text(f"""\
[oauth]
jwks_url = "http://127.0.0.1:{server.port}/oauth/jwks.json"
secret_name = "jwt-keys"
request_timeout_seconds = {timeout_s}
""")
        try:
            return timed(pytest_command("-m", "oauth", f"--env={env_file}"), ok=(1,))
        finally:
            server.close()


DEPENDENCIES = ("kube", "oauth", "redis", "postgres", "aws", "app")


def blackholed_environment(directory: Path, timeout_s: float, ports: dict[str, int]) -> Path:
    """An environment file (and its kubeconfig) in ``directory`` whose every dependency is the
    loopback port ``ports`` names for it (one of :data:`DEPENDENCIES`), every timeout ``timeout_s``."""
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(f"""\
apiVersion: v1
kind: Config
current-context: blackhole
clusters: [{{name: blackhole, cluster: {{server: "{url['kube']}"}}}}]
contexts: [{{name: blackhole, context: {{cluster: blackhole, user: suite}}}}]
users: [{{name: suite, user: {{token: bench-token-not-a-secret}}}}]
""")
    env_file = directory / "blackholed.toml"
    env_file.write_text(f"""\
[kubernetes]
kubeconfig = "{kubeconfig}"
namespace = "production"
deployment = "app-backend"
pod_selector = "app=app-backend"
request_timeout_seconds = {timeout_s}

[oauth]
jwks_url = "{url['oauth']}/oauth/jwks.json"
probe_url = "{url['oauth']}/api/v1/me"
secret_name = "jwt-keys"
request_timeout_seconds = {timeout_s}

[redis]
url = "redis://127.0.0.1:{ports['redis']}/0"
timeout_seconds = {timeout_s}

[postgres]
dsn = "host=127.0.0.1 port={ports['postgres']} dbname=app user=runbook_checks"
connect_timeout_seconds = {int(timeout_s)}

[aws]
region = "us-east-1"
bucket = "ytvideocreator-media"
role_name = "eks-app-backend-role"
role_policy_name = "S3Access"
endpoint_url = "{url['aws']}"
connect_timeout_seconds = {timeout_s}
read_timeout_seconds = {timeout_s}

[app]
health_live_url = "{url['app']}/health/live"
health_ready_url = "{url['app']}/health/ready"
timeout_seconds = {timeout_s}
""")
    return env_file


#: Credentials botocore takes without looking further (no instance metadata): not a secret.
BLACKHOLED_AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


def blackholed(timeout_s: float, *extra: str, startup_only: bool = False) -> float:
    """The whole suite with every dependency blackholed at once: the Kubernetes API, the JWKS and
    probe URLs, Redis, PostgreSQL, the AWS endpoint and the health URLs all accept connections and
    never answer. The first contacts run concurrently, so the run costs about one timeout.

    ``startup_only``: the same command with every check deselected (``-k "not test_"``, exit 5):
    Python, the plugins, collection and the xdist workers, and no dependency contacted.
    (``--collect-only`` would not start xdist's workers.)"""
    server = SilentServer()
    with tempfile.TemporaryDirectory() as parent:
        env_file = blackholed_environment(Path(parent), timeout_s, dict.fromkeys(DEPENDENCIES, server.port))
        try:
            return timed(pytest_command(f"--env={env_file}", *extra, *(["-k", "not test_"] if startup_only else [])),
                         ok=(5,) if startup_only else (1,), env=BLACKHOLED_AWS)
        finally:
            server.close()


def write_blackholed(n: int, timeout_s: float = 2.0) -> list[str]:
    """bench/results/blackholed.md: the whole-run bound (one timeout + 3 s), serial and -n 2."""
    load_before = os.getloadavg()[0]
    rows = [(label, statistics.median(blackholed(timeout_s, *extra) for _ in range(n)),
             statistics.median(blackholed(timeout_s, *extra, startup_only=True) for _ in range(n)))
            for label, extra in (("serial", ()), ("`-n 2`", ("-n", "2")))]
    bound = timeout_s + 3
    lines = [
        "# The whole suite with every dependency blackholed",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} on {platform.node()} "
        f"({os.cpu_count()} cores, load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after); "
        f"median of {n} runs, wall-clock seconds from the shell, including Python start-up. Every timeout is {timeout_s} s; the Kubernetes "
        "API, JWKS, probe, Redis, PostgreSQL, AWS and health URLs accept connections and never answer. "
        "Re-run: `python -m bench blackholed`.",
        "",
        "Start-up is the same command with every check deselected (`-k \"not test_\"`: Python, the plugins, "
        "collection and the xdist workers, no dependency contacted; `--collect-only` would start no worker); "
        "the rest is the run minus that: the client libraries the checks need, the one timeout, the reports.",
        "",
        "| run | bound (one timeout + 3 s) | seconds | within | start-up | the rest |",
        "|---|---|---|---|---|---|",
        *[f"| `pytest` (every marker), {label} | {bound:.1f} | {value:.2f} | {'yes' if value <= bound else 'NO'} "
          f"| {startup:.2f} | {value - startup:.2f} |" for label, value, startup in rows],
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "blackholed.md").write_text("\n".join(lines))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("only", nargs="?", choices=["blackholed"], help="measure only this figure")
    args = parser.parse_args()
    n = args.repeat
    compile_project()
    if args.only == "blackholed":
        print("\n".join(write_blackholed(n)))
        return 0

    def median(fn, *a, **k) -> float:
        return statistics.median(fn(*a, **k) for _ in range(n))

    figures = [
        ("sandbox start (`python -m sandbox up` to ready)", "< 5 s", median(sandbox_start)),
        ("`pytest -m oauth` on the healthy sandbox, one process", "", median(timed, pytest_command("-m", "oauth"))),
        ("`pytest -m oauth -n 2` on the healthy sandbox", "", median(timed, pytest_command("-m", "oauth", "-n", "2"))),
        ("`pytest -m oauth --drill oauth-key-mismatch`", "", median(timed, pytest_command("-m", "oauth", "--drill", "oauth-key-mismatch"), ok=(1,))),
        ("`pytest -m oauth --drill oauth-revocation-down`", "", median(timed, pytest_command("-m", "oauth", "--drill", "oauth-revocation-down"), ok=(1,))),
        ("`pytest -m oauth` with a JWKS URL that never answers (timeout 2 s)", "≈ one timeout", median(hung_jwks, 2.0)),
        ("`pytest -m oauth --collect-only` (no sandbox start: collection only)", "", median(timed, pytest_command("-m", "oauth", "--collect-only", "--env", "environments/staging.toml"), env={"REDIS_PASSWORD": "unused"})),
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Benchmark figures",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} on {platform.node()} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}); "
        f"median of {n} runs, wall-clock seconds, including Python start-up. Re-run: `make bench`.",
        "",
        "| figure | target | seconds |",
        "|---|---|---|",
        *[f"| {name} | {target} | {value:.2f} |" for name, target, value in figures],
        "",
    ]
    (RESULTS / "figures.md").write_text("\n".join(lines))
    print("\n".join(lines + write_blackholed(n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
