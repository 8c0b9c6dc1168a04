"""Stopping a child process: politely, then for sure."""

from __future__ import annotations

import subprocess

__all__ = ["terminate"]


def terminate(process: subprocess.Popen, *, timeout: float) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; always reaps the child."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
