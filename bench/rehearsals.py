"""``python -m bench.rehearsals [--kube real|imitation] [--jobs N] [DRILL ...]``: every drill played to
the end (``python -m sandbox rehearse DRILL --auto``), two at a time, into
``bench/results/rehearsals.md`` (``rehearsals-real.md`` with ``--kube real``): which drills the printed remediation resolves, with or without a
CAUTION step, and how many printed commands failed as printed.

``--from-logs DIR`` writes the table from the logs of an earlier run (one ``<drill>.log`` each).
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from bench import REPO

RESULTS = REPO / "bench" / "results" / "rehearsals.md"  # rehearsals-real.md with --kube real
_VERDICT = re.compile(r"^(RESOLVED(?: \(with a CAUTION step\))?|NOT RESOLVED: still failing (\[.*\]))"
                      r"; (\d+) commands run, (\d+) failed as printed$", re.M)
_FAILED_COMMAND = re.compile(r"^\$ (.*)\n  exit ([1-9]\d*)(?:: (.*))?$", re.M)


def verdict(log: str) -> tuple[str, int, int, list[str], list[str]]:
    """(verdict, commands run, failed as printed, still failing, the failed commands' last lines)."""
    found = list(_VERDICT.finditer(log))
    if not found:
        last = log.strip().splitlines()[-1] if log.strip() else "no output"
        return f"no verdict: {last[:120]}", 0, 0, [], []
    match = found[-1]
    still = re.findall(r"'checks/([^']+)'", match.group(2) or "")
    failures = [f"exit {code}: {(why or '').strip()[:100]}" for _, code, why in _FAILED_COMMAND.findall(log)]
    return match.group(1).split(":")[0], int(match.group(3)), int(match.group(4)), still, failures


def table(logs: dict[str, str], *, kube: str, source: str) -> str:
    rows, resolved, caution, failed_commands = [], 0, 0, 0
    for drill, log in logs.items():
        outcome, ran, failed, still, failures = verdict(log)
        resolved += outcome.startswith("RESOLVED")
        caution += "CAUTION" in outcome
        failed_commands += failed
        detail = ("still failing " + ", ".join(still)) if still else ""
        if failures:
            detail += ("; " if detail else "") + "; ".join(failures)
        rows.append(f"| {drill} | {outcome} | {ran} | {failed} | {detail.replace('|', '/')} |")
    head = [
        "# Rehearsals: each drill's printed remediation run as printed",
        "",
        f"{source}; Kubernetes under the sandbox: {kube}; {platform.node()}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        f"**{resolved} of {len(logs)} drills resolved** by their printed commands ({caution} of them with a "
        f"CAUTION step); {failed_commands} commands failed as printed.",
        "",
        "| drill | verdict | commands run | failed as printed | what is left |",
        "|---|---|---|---|---|",
    ]
    return "\n".join(head + rows) + "\n"


def _rehearse(drill: str, kube: str | None, directory: Path) -> str:
    argv = [sys.executable, "-m", "sandbox", "rehearse", drill, "--auto"] + (["--kube", kube] if kube else [])
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    log = result.stdout + result.stderr
    (directory / f"{drill}.log").write_text(log)
    return log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rehearsals", description=__doc__.split("\n\n")[0])
    parser.add_argument("drills", nargs="*", help="default: every drill")
    parser.add_argument("--kube", choices=("real", "imitation"), default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--from-logs", type=Path, metavar="DIR")
    args = parser.parse_args(argv)
    from sandbox.drills import DRILLS

    names = args.drills or list(DRILLS)
    if args.from_logs:
        logs = {name: (args.from_logs / f"{name}.log").read_text() for name in names
                if (args.from_logs / f"{name}.log").exists()}
        source = f"from the logs in {args.from_logs}"
    else:
        directory = Path(tempfile.mkdtemp(prefix="rehearsals-"))
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            logs = dict(zip(names, pool.map(lambda d: _rehearse(d, args.kube, directory), names)))
        source = f"python -m bench.rehearsals, {args.jobs} at a time (logs in {directory})"
    results = RESULTS.with_name("rehearsals-real.md") if args.kube == "real" else RESULTS
    results.write_text(table(logs, kube=args.kube or "imitation (the default)", source=source))
    print(results.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
