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
mkdir -p "$prefix/app/sandbox"
cp -R pyproject.toml conftest.py core transport checks fixtures remediations environments "$prefix/app/"
# The sandbox itself stays out; its pytest plugin (--env sandbox, --drill) is loaded by conftest.py.
cp sandbox/__init__.py sandbox/keytypes.py sandbox/plugin.py sandbox/process.py "$prefix/app/sandbox/"
"$prefix/bin/python" -m compileall -q "$prefix/app"
