"""``python -m bench.cluster``: the scale figures of issue 7, written to bench/results/cluster.md.

For 500, 5,000 and 20,000 app pods, each with its metrics and the 4 events of its start:

- seeding: ``seed_production`` plus ``scale_deployment`` into a fresh store, in this process
  (``apply_many`` validates one object per shape; target: seconds);
- ``pytest -m cpu --env <file>`` and ``pytest -m memory --env <file>`` against a running
  ``python -m sandbox up --pods N``: wall time from the shell to the verdict and the pytest
  process's peak RSS (targets at 5,000 pods: ≤ 2 s and ≤ 300 MB each; 20,000 pods ≤ 4.5 × the
  5,000-pod time).

The environment file of the sandbox is used as written, with one line more: ``max_list_items``
above the pod count (the default, 10,000, makes a bigger list could-not-verify by design). Each
figure is the median of a few runs; the file records the machine, the date and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import compile_project
from bench.__main__ import REPO, RESULTS

SIZES = (500, 5000, 20000)
# pytest in-process, then its own peak RSS (ru_maxrss, KiB on Linux) on stderr's last line.
_MEASURED = ("import resource, sys, pytest\n"
             "code = pytest.main(sys.argv[1:])\n"
             "print(f'peak-rss-kib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
             "sys.exit(code)\n")


def seeding_seconds(pods: int) -> float:
    from sandbox.cluster import scale_deployment, seed_production
    from sandbox.kubeapi.store import ObjectStore

    store = ObjectStore()
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    seed_production(store, jwt_private_pem="-", jwt_public_pem="-", role_arn="arn:aws:iam::1:role/bench", now=now)
    scale_deployment(store, replicas=pods, now=now)
    return time.perf_counter() - started


def run_marker(marker: str, env_file: Path) -> tuple[float, float, float, float]:
    """One `pytest -m <marker> --env=<file>`: wall seconds, peak RSS in MB, pytest's own session time
    ("in N s": the checks, without interpreter and plugin start-up) and the process's CPU seconds."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _MEASURED, "-p", "no:cacheprovider", "-p", "sandbox.plugin", "-q", "-m", marker,
                             f"--env={env_file}"], cwd=REPO, capture_output=True, text=True, timeout=600,
                            stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss = next(line for line in result.stderr.splitlines()[::-1] if line.startswith("peak-rss-kib"))
    if result.returncode != 0:
        raise SystemExit(f"pytest -m {marker} exited {result.returncode}:\n{result.stdout[-3000:]}")
    session = float(re.findall(r" in ([0-9.]+)s", result.stdout)[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, int(rss.split()[1]) / 1024, session, cpu


def against_sandbox(pods: int, repeat: int) -> dict[str, tuple[float, float]]:
    state_dir = REPO / ".sandbox" / f"bench-cluster-{os.getpid()}-{pods}"
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "up", "--state-dir", str(state_dir),
                                "--pods", str(pods), "--parent-pid", str(os.getpid())], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while not (state_dir / "ready").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the sandbox with {pods} pods did not start")
            time.sleep(0.1)
        env_file = state_dir / "bench.toml"
        written = Path((state_dir / "ready").read_text()).read_text()
        env_file.write_text(written.replace("[kubernetes]\n", f"[kubernetes]\nmax_list_items = {pods * 2 + 100}\n", 1))
        figures = {}
        for marker in ("cpu", "memory"):
            run_marker(marker, env_file)  # not counted: fills the sandbox's encoding cache (an API server's watch cache)
            runs = [run_marker(marker, env_file) for _ in range(repeat)]
            figures[marker] = tuple(statistics.median(r[i] for r in runs) for i in (0, 2, 3)) + (max(r[1] for r in runs),)
        return figures
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    compile_project()
    rows, times = [], {}
    load = os.getloadavg()[0]
    for pods in SIZES:
        seeded = statistics.median(seeding_seconds(pods) for _ in range(1 if pods > 5000 else args.repeat))
        figures = against_sandbox(pods, args.repeat)
        for marker, (seconds, session, cpu, rss) in figures.items():
            times[(marker, pods)] = seconds
            target = "≤ 2 s, ≤ 300 MB" if pods == 5000 else ("≤ 4.5 × the 5,000-pod time" if pods == 20000 else "")
            rows.append(f"| `pytest -m {marker}` | {pods:,} | {seconds:.2f} | {session:.2f} | {cpu:.2f} | {rss:.0f} | {target} |")
        rows.append(f"| seeding (seed_production + scale_deployment, in-process) | {pods:,} | {seeded:.2f} | | | | seconds |")
    ratios = [f"- `-m {m}`: 20,000 pods took {times[(m, 20000)] / times[(m, 5000)]:.2f} × the 5,000-pod time (target ≤ 4.5)"
              for m in ("cpu", "memory")]
    lines = [
        "# Scale: the cpu and memory bundles against a large production",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} on {platform.node()} ({os.cpu_count()} cores, "
        f"load average {load:.1f} at the start and {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end, "
        f"Python {platform.python_version()}); median of {args.repeat} runs after one uncounted run, wall-clock "
        "seconds from the shell to the verdict, pytest's own session time (`in N s`: the checks, without the "
        "interpreter and plugin start-up), CPU seconds and peak RSS of the pytest process. Each pod has its "
        "PodMetrics and 4 events. Re-run: `.venv/bin/python -m bench.cluster`.",
        "",
        "| what | pods | seconds | session | CPU s | peak RSS MB | target |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        *ratios,
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cluster.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
