"""The project's figures (``python -m bench``, ``python -m bench.cluster``, ``python -m bench.db_pool``)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def compile_project() -> None:
    """Compile the project's modules as the image and ``make`` do (deploy/install.sh, ``make bytecode``):
    with PYTHONDONTWRITEBYTECODE=1 a measured run would otherwise compile them from source each time."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "conftest.py", "checks", "fixtures", "remediations",
                    "sandbox", "bench"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
