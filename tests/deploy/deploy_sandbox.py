"""One running sandbox for a deploy test, its state under the repository's .sandbox/ like the
README's (so its environment file works with --env=PATH)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.suite.runner import REPO, sandbox_running


@contextlib.contextmanager
def running_sandbox() -> Iterator[tuple[Path, Path]]:
    """Yields (state dir, environment file) of a started sandbox; stops it afterwards."""
    state_dir = REPO / ".sandbox" / f"test-{uuid.uuid4().hex[:8]}"
    with sandbox_running(state_dir) as (_, env_file):
        yield state_dir, env_file
