"""``python -m sandbox up | down | drills | steps``: run the embedded target by hand, stop it, list the
drills by incident, list the runbook's steps with the checks and drills that cover them."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from sandbox import REDIS_PASSWORD_FILE

# Inside the repository (git-ignored), so `pytest --env .sandbox/environment.toml` finds the
# project's pytest configuration: pytest picks its rootdir from path-like arguments.
DEFAULT_STATE_DIR = Path(__file__).resolve().parent.parent / ".sandbox"
READY_FILE = "ready"
PID_FILE = "sandbox.pid"


def main(argv: list[str] | None = None) -> int:
    from sandbox.stack import KEY_TYPES

    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the sandbox and keep it running until Ctrl-C or `down`")
    up.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                    help=f"where the environment file and the services' data go (default {DEFAULT_STATE_DIR})")
    up.add_argument("--drill", metavar="NAME", help="inject one runbook incident (see `drills`)")
    up.add_argument("--key-type", choices=KEY_TYPES, default="rsa",
                    help="the signing key in secret jwt-keys: RSA 2048 (RS256, default), EC P-256 (ES256) "
                         "or Ed25519 (EdDSA)")
    up.add_argument("--pods", type=int, metavar="N", help="run N app-backend pods, each with metrics and "
                    "4 events (the scale benchmark: 500, 5000, 20000)")
    up.add_argument("--kube", choices=("real", "imitation"), default=None,
                    help="the Kubernetes under the sandbox: the real control plane (etcd, kube-apiserver, "
                         "controllers, kwok, metrics-server) or the Python imitation (default: "
                         "$RUNBOOK_SANDBOX_KUBE, else imitation)")
    up.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # stop when this process dies
    rehearse = commands.add_parser("rehearse", help="play a drill to the end: its marker, the suggested "
                                   "remediation, and with --auto its printed commands, then the marker again")
    rehearse.add_argument("drill", help="a drill's name (see `drills`)")
    rehearse.add_argument("--auto", action="store_true", help="run the printed commands as printed, CAUTION "
                          "steps only when nothing else resolves it; exit 0 when resolved with every command working")
    rehearse.add_argument("--kube", choices=("real", "imitation"), default=None,
                          help="the Kubernetes under the sandbox (as for `up`)")
    down = commands.add_parser("down", help="stop the sandbox started by `up`")
    down.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    commands.add_parser("drills", help="per incident: each drill, the checks it fails, its remediations")
    commands.add_parser("steps", help="each runbook step: its checks, their remediation, the drills; "
                                      "and the steps without a check")
    args = parser.parse_args(argv)
    return {"up": _up, "down": _down, "drills": _drills, "steps": _steps, "rehearse": _rehearse}[args.command](args)


def _up(args: argparse.Namespace) -> int:
    from sandbox.drills import DRILLS
    from sandbox.stack import Sandbox

    if args.drill and args.drill not in DRILLS:
        print(f"unknown drill {args.drill!r}; known: {', '.join(DRILLS)}", file=sys.stderr)
        return 2
    state_dir: Path = args.state_dir
    pid = _running_pid(state_dir)
    if pid is not None:
        print(f"a sandbox is already running (pid {pid}); environment file: {state_dir / 'environment.toml'}\n"
              f"stop it with: python -m sandbox down --state-dir {state_dir}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid, stop), daemon=True).start()

    started = time.perf_counter()
    sandbox = Sandbox(state_dir, drill=args.drill, key_type=args.key_type, pods=args.pods, kube=args.kube)
    try:
        env_file = sandbox.start()
        (state_dir / PID_FILE).write_text(str(os.getpid()))
        # Written aside and renamed: whoever waits for the ready file never reads it half-written
        # (an empty read made pytest look for the environment file ".").
        (state_dir / f"{READY_FILE}.tmp").write_text(str(env_file))
        (state_dir / f"{READY_FILE}.tmp").replace(state_dir / READY_FILE)
        if not args.parent_pid:
            _print_banner(sandbox, time.perf_counter() - started)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        sandbox.remove_state()
    if not args.parent_pid:
        print("sandbox stopped", flush=True)
    return 0


def _print_banner(sandbox, seconds: float) -> None:
    aws = sandbox.aws
    drill = f" with drill {sandbox.drill}" if sandbox.drill else ""
    print(f"""sandbox up in {seconds:.1f} s{drill}
{sandbox.env_file}

  pytest -p sandbox.plugin -m oauth --env={sandbox.env_file}
  kubectl --kubeconfig {sandbox.kubeconfig} get pods -n production
  psql '{sandbox.postgres.dsn("runbook_checks")}'
  REDISCLI_AUTH="$(cat {sandbox.state_dir / REDIS_PASSWORD_FILE})" redis-cli -u {sandbox.redis.url} ping
  AWS_SHARED_CREDENTIALS_FILE={aws.credentials_file} AWS_CONFIG_FILE={aws.config_file} \\
    aws --profile sandbox --endpoint-url {aws.endpoint_url} s3 ls

Ctrl-C or `python -m sandbox down` stops it.""", flush=True)


def _watch_parent(pid: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stop.set()


def _running_pid(state_dir: Path) -> int | None:
    try:
        pid = int((state_dir / PID_FILE).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _down(args: argparse.Namespace) -> int:
    pid = _running_pid(args.state_dir)
    if pid is None:
        print(f"no sandbox is running from {args.state_dir}", file=sys.stderr)
        return 1
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        # `up` removes its state dir (pid file included) as its last step; a process that is gone
        # (or a zombie its parent has not reaped yet) has stopped too.
        if not (args.state_dir / PID_FILE).exists() or _running_pid(args.state_dir) is None:
            print(f"sandbox (pid {pid}) stopped")
            return 0
        time.sleep(0.1)
    print(f"sandbox (pid {pid}) did not stop within 15 s", file=sys.stderr)
    return 1


def _rehearse(args: argparse.Namespace) -> int:
    from sandbox.rehearse import main as rehearse_main

    return rehearse_main(args)


def _drills(args: argparse.Namespace) -> int:
    from sandbox.inventory import drills_report

    print(drills_report())
    return 0


def _steps(args: argparse.Namespace) -> int:
    from sandbox.inventory import steps_report

    print(steps_report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
