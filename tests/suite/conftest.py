"""Fixtures for running the real suite as its users do."""

import pytest

from tests.suite.runner import run_suite


@pytest.fixture
def suite(tmp_path):
    """``suite("-m", "oauth", ...)`` runs the real suite in a subprocess and returns a SuiteRun."""
    return lambda *args, **kwargs: run_suite(tmp_path, *args, **kwargs)
