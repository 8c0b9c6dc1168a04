"""A test plugin: each pytest process (controller and xdist workers) writes the environment file it
checked (its path, then its content) into $ENVPROBE_DIR/<worker id>, so a test can prove one
sandbox served the whole run and find the ports it used."""

import os
from pathlib import Path


def pytest_sessionfinish(session):
    from fixtures.config import ENVIRONMENT

    environment = session.config.stash.get(ENVIRONMENT, None)
    out = os.environ.get("ENVPROBE_DIR")
    if environment is not None and out:
        worker = getattr(session.config, "workerinput", {}).get("workerid", "controller")
        Path(out, worker).write_text(f"{environment.path}\n{environment.path.read_text()}")
