#!/bin/sh
# The image's install steps (deploy/Dockerfile runs this; tests/deploy/test_image.py runs it into a
# temporary prefix): the suite's runtime dependencies only (requirements-runtime.lock: no moto,
# flask or kubernetes-validate), and the suite's own files, compiled, so that the installed tree is
# never written to again (read-only root filesystem, PYTHONDONTWRITEBYTECODE=1).
#   usage: deploy/install.sh PREFIX [PYTHON]   (run from the repository; UV names the uv to use)
set -eu
prefix=$1
python=${2:-python3}
uv=${UV:-uv}
"$uv" venv --quiet --python "$python" "$prefix"
"$uv" pip install --quiet --no-deps --compile-bytecode --python "$prefix/bin/python" -r requirements-runtime.lock
mkdir -p "$prefix/app"
# No sandbox module: its pytest plugin is loaded only with -p sandbox.plugin, never by conftest.py.
cp -R pyproject.toml conftest.py core transport fixtures checks runbook remediations reporting environments "$prefix/app/"
"$prefix/bin/python" -m compileall -q "$prefix/app"
