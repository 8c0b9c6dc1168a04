# The two commands of the README: `make check` (the suite against the sandbox) and `make test`
# (the project's own tests). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: check test bench lock sandbox clean

# --compile-bytecode: this machine sets PYTHONDONTWRITEBYTECODE=1, so without it every run
# recompiles boto3, moto and the kubernetes client from source (sandbox start 4.7 s -> 1.8 s).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.13,<0.14"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	touch $(STAMP)

check: $(STAMP)
	$(BIN)/pytest -n 2 --junitxml reports/check.xml --runbook-summary reports/check.md

test: $(STAMP)
	$(BIN)/pytest -c tests/pytest.ini -n 2 --dist loadgroup tests

bench: $(STAMP)
	$(BIN)/python -m bench

sandbox: $(STAMP)
	$(BIN)/python -m sandbox up

lock:
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra sandbox pyproject.toml -o requirements.lock

clean:
	rm -rf $(VENV) reports/*.xml reports/*.md
