"""``python -m bench.controlplane``: the sandbox on the real control plane, measured into
``bench/results/controlplane.md``:

- the components' cold build times, as ``sandbox/kube/build.py`` recorded them in the cache
  (``build-times.log``; a build reused from the cache takes no time and records nothing);
- ``python -m sandbox up --kube real`` until ready (the services, production through the API and
  helm, and the wait for metrics-server's first figures and the HPA's first computation);
- the whole suite against it (``pytest -n 2``), the way ``make check`` runs it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import REPO
from sandbox.kube import build

RESULTS = REPO / "bench" / "results" / "controlplane.md"


def main() -> int:
    with tempfile.TemporaryDirectory(dir=REPO / ".sandbox" if (REPO / ".sandbox").is_dir() else None) as parent:
        state = Path(parent) / "state"
        started = time.perf_counter()
        up = subprocess.Popen([sys.executable, "-m", "sandbox", "up", "--kube", "real", "--state-dir", str(state),
                               "--parent-pid", str(os.getpid())], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not (state / "ready").exists():
                if up.poll() is not None or time.perf_counter() - started > 300:
                    raise SystemExit("the sandbox did not start")
                time.sleep(0.1)
            ready = time.perf_counter() - started
            env_file = (state / "ready").read_text()
            password = (state / "redis-password").read_text().strip()
            started = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "-q",
                                  f"--env={env_file}"], cwd=REPO, capture_output=True, text=True, timeout=600,
                                 env={**os.environ, "SANDBOX_REDIS_PASSWORD": password})
            suite = time.perf_counter() - started
        finally:
            up.terminate()
            up.wait(timeout=60)
    verdict = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else f"exit {run.returncode}"
    log = build.cache_root() / "build-times.log"
    builds = log.read_text().strip().splitlines() if log.exists() else ["(none recorded)"]
    lines = [
        "# The sandbox on the real control plane",
        "",
        f"{platform.node()}, {os.cpu_count()} cores, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"`python -m bench.controlplane`.",
        "",
        f"- `python -m sandbox up --kube real` ready in **{ready:.1f} s**",
        f"- the whole suite against it (`pytest -n 2`): **{suite:.1f} s**, {verdict}",
        "",
        "Cold builds of the components, as recorded in the cache (`build-times.log`):",
        "",
        *[f"    {line}" for line in builds],
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(RESULTS.read_text())
    return 0 if run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
