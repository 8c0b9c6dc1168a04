"""A test plugin: each pytest process (controller and xdist workers) writes the environment file it
checked (its path, then its content) into $ENVPROBE_DIR/<worker id>, so a test can prove one
sandbox served the whole run and find the ports it used; and the heavy client libraries it
imported into $ENVPROBE_DIR/<worker id>.modules."""

import sys

import os
from pathlib import Path


def pytest_sessionfinish(session):
    from core.config import ENVIRONMENT

    environment = session.config.stash.get(ENVIRONMENT, None)
    out = os.environ.get("ENVPROBE_DIR")
    if environment is not None and out:
        worker = getattr(session.config, "workerinput", {}).get("workerid", "controller")
        Path(out, worker).write_text(f"{environment.path}\n{environment.path.read_text()}")
        heavy = ("boto3", "botocore", "moto", "psycopg", "pglast", "kubernetes.client.api", "redis", "jwt")
        Path(out, f"{worker}.modules").write_text(" ".join(m for m in heavy if m in sys.modules))
