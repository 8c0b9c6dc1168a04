"""The Kubernetes version the fake API reports, and so the official schemas it validates against."""

from __future__ import annotations

__all__ = ["SCHEMA_VERSION", "VERSION_INFO"]

SCHEMA_VERSION = "1.32.0"

VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": f"v{SCHEMA_VERSION}",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T00:00:00Z",
    "goVersion": "go1.23.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}
