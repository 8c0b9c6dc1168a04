# The two commands of the README: `make check` (the suite against the sandbox) and `make test`
# (the project's own tests). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: check test tools bench lock sandbox clean bytecode

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

check: $(STAMP) bytecode
	$(BIN)/pytest -n 2 --junitxml reports/check.xml --runbook-summary reports/check.md

# What the report and deploy tests drive for real (headless Chromium, a Prometheus Pushgateway, promtool),
# from Debian's packages; installed where missing and possible (root with apt-get), else those tests skip.
TOOLS := chromium prometheus-pushgateway promtool
tools:
	@missing=""; for t in $(TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing from Debian's packages"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium prometheus-pushgateway prometheus >/dev/null; \
	fi

test: $(STAMP) tools bytecode
	$(BIN)/pytest -c tests/pytest.ini -n 2 --dist loadgroup tests

bench: $(STAMP) bytecode
	$(BIN)/python -m bench

sandbox: $(STAMP) bytecode
	$(BIN)/python -m sandbox up

# Two locks from one pyproject: everything (the suite, the sandbox, the project's tests) for make and CI,
# and the suite's runtime alone for the container image (deploy/Dockerfile).
lock:
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra sandbox pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile --quiet --python-version 3.11 pyproject.toml -o requirements-runtime.lock

clean:
	rm -rf $(VENV) reports/*.xml reports/*.md
