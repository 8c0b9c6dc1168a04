# The two commands of the README: `make check` (the suite against the sandbox) and `make test`
# (the project's own tests). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The venv's bin first: the printed remediations' kubectl and aws (from requirements.lock) are the
# ones the tests and drills run.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: check test system components bench lock sandbox clean bytecode

# --compile-bytecode: this machine sets PYTHONDONTWRITEBYTECODE=1, so without it every run
# recompiles boto3, moto and the kubernetes client from source (sandbox start 4.7 s -> 1.8 s).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.13,<0.14"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	touch $(STAMP)

# The project's own modules compiled too, as the image has them (deploy/install.sh): with
# PYTHONDONTWRITEBYTECODE=1 every run would otherwise compile ~50 modules from source (0.1 s a run).
# compileall skips what is up to date, and a stale file is only ignored, never wrong.
bytecode: $(STAMP)
	@$(BIN)/python -c 'import bench; bench.compile_project()'

check: $(STAMP) system bytecode
	$(BIN)/pytest -p sandbox.plugin -n 2 --junitxml reports/check.xml --runbook-summary reports/check.md

# The Debian packages the sandbox and the tests run for real (PostgreSQL 15, Redis 7, Prometheus,
# Chromium): installed where missing (root with apt-get), else the script names them and fails.
system:
	@sh sandbox/system-packages.sh

# The control plane's components (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok,
# metrics-server, helm), built from the Go module proxy through sandbox/kube/components/*/go.mod into
# ~/.cache/runbook-checks/bin (RUNBOOK_CHECKS_CACHE), once: about 15 minutes cold on 2 cores, then reused.
components: $(STAMP)
	@$(BIN)/python -m sandbox.kube.build
	@$(BIN)/python -m sandbox.kube.build --link $(BIN) helm

test: $(STAMP) system components bytecode
	$(BIN)/pytest -c tests/pytest.ini -n 2 --dist loadgroup tests

bench: $(STAMP) bytecode
	$(BIN)/python -m bench

sandbox: $(STAMP) system bytecode
	$(BIN)/python -m sandbox up

# Two locks from one pyproject: everything (the suite, the sandbox, the project's tests) for make and CI,
# and the suite's runtime alone for the container image (deploy/Dockerfile).
lock:
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra sandbox pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile --quiet --python-version 3.11 pyproject.toml -o requirements-runtime.lock

clean:
	rm -rf $(VENV) reports/*.xml reports/*.md
