"""The remediation marker: registered, and checked against the catalog before anything runs."""

from __future__ import annotations

import pytest

XDIST = [pytest.param(False, id="in-process"), pytest.param(True, id="xdist")]


def test_pytest_markers_lists_the_remediation_marker(suite):
    result = suite.run("--markers")
    result.stdout.fnmatch_lines([
        "@pytest.mark.remediation(id): name the runbook remediation (remediations/*.toml) that a "
        "failure of this check calls for",
    ])


@pytest.mark.parametrize("xdist", XDIST)
def test_an_unknown_id_stops_the_run_with_one_line_and_a_suggestion(suite, xdist):
    suite.checks("""
        import pytest

        @pytest.mark.oauth
        @pytest.mark.remediation("oauth.restart-pod")
        def test_signing_key_is_published_in_jwks():
            pass
    """)
    result = suite.run(xdist=xdist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR")]
    assert errors == [
        "ERROR: test_checks.py::test_signing_key_is_published_in_jwks: unknown remediation "
        "'oauth.restart-pod' (did you mean 'oauth.restart-pods'?)",
    ]
    assert "passed" not in result.stdout.str()


@pytest.mark.parametrize("xdist", XDIST)
def test_an_incident_check_without_a_remediation_stops_the_run(suite, xdist):
    suite.checks("""
        import pytest

        pytestmark = [pytest.mark.db_pool]

        def test_pool_has_headroom():
            pass
    """)
    result = suite.run(xdist=xdist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "ERROR: test_checks.py::test_pool_has_headroom: check marked db_pool has no "
        "@pytest.mark.remediation(id); db_pool remediations: db_pool.resize-pool, *",
    ])


@pytest.mark.parametrize(("markers", "message"), [
    ('@pytest.mark.remediation("cpu.scale-out")\n@pytest.mark.remediation("cpu.relieve-node")',
     "2 remediation markers ('cpu.relieve-node', 'cpu.scale-out'); name exactly one"),
    ("@pytest.mark.remediation()", "remediation marker takes one id string"),
    ('@pytest.mark.remediation("cpu.scale-out", "cpu.relieve-node")',
     "remediation marker takes one id string"),
])
def test_a_malformed_remediation_marker_stops_the_run(suite, markers, message):
    suite.checks(f"""
import pytest

@pytest.mark.cpu
{markers}
def test_cpu_is_below_limits():
    pass
""")
    result = suite.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"test_checks.py::test_cpu_is_below_limits: {message}" in result.stderr.str()


def test_every_problem_is_reported_at_once(suite):
    suite.checks("""
        import pytest

        @pytest.mark.s3
        def test_a():
            pass

        @pytest.mark.memory
        @pytest.mark.remediation("memory.nope")
        def test_b():
            pass
    """)
    result = suite.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert len([line for line in result.stderr.lines if line.startswith("ERROR: ")]) == 2


def test_checks_without_incident_markers_need_no_remediation(suite):
    suite.checks("""
        def test_helper_behaves():
            pass
    """)
    assert suite.run().ret == pytest.ExitCode.OK


def test_used_ids_maps_each_id_to_the_checks_naming_it(suite):
    suite.checks("""
        import pytest

        pytestmark = [pytest.mark.cpu]

        @pytest.mark.remediation("cpu.scale-out")
        def test_a():
            pass

        @pytest.mark.remediation("cpu.scale-out")
        def test_b():
            pass

        @pytest.mark.remediation("cpu.relieve-node")
        def test_c():
            pass
    """)
    from runbook.markers import used_ids

    items, _ = suite.pytester.inline_genitems()
    assert used_ids(items) == {
        "cpu.scale-out": ["test_checks.py::test_a", "test_checks.py::test_b"],
        "cpu.relieve-node": ["test_checks.py::test_c"],
    }


@pytest.mark.parametrize("xdist", XDIST)
def test_an_incident_check_without_a_runbook_step_or_with_an_unknown_one_stops_the_run(suite, xdist):
    suite.checks("""
        import pytest

        STRICT_STEPS = True
        pytestmark = [pytest.mark.cpu]

        @pytest.mark.remediation("cpu.scale-out")
        def test_hpa_has_headroom():
            pass

        @pytest.mark.runbook("incident-1/investigation-9")
        @pytest.mark.remediation("cpu.scale-out")
        def test_pods_within_cpu_limits():
            pass

        @pytest.mark.runbook("incident-1/investigation-1", "incident-1/symptoms")
        @pytest.mark.remediation("cpu.scale-out")
        def test_this_one_is_fine():
            pass
    """)
    result = suite.run(xdist=xdist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = sorted(line for line in result.stderr.lines if line.startswith("ERROR"))
    assert errors == [
        "ERROR: test_checks.py::test_hpa_has_headroom: check has no @pytest.mark.runbook(step id); "
        "the ids are in remediations/runbook.toml",
        "ERROR: test_checks.py::test_pods_within_cpu_limits: unknown runbook step "
        "'incident-1/investigation-9' (did you mean 'incident-1/investigation-4'?)",
    ]


def test_a_failed_checks_runbook_steps_are_in_its_junit_properties(suite):
    suite.checks("""
        import pytest

        STRICT_STEPS = True

        @pytest.mark.cpu
        @pytest.mark.runbook("incident-1/investigation-1", "incident-1/symptoms")
        @pytest.mark.remediation("cpu.scale-out")
        def test_pods_within_cpu_limits():
            assert False, "app-backend-x at 97% of its CPU limit"
    """)
    _, cases = suite.junit()
    properties = suite.properties(cases["test_pods_within_cpu_limits"])
    assert properties["runbook_step"] == "incident-1/investigation-1 incident-1/symptoms"


def test_pytest_markers_lists_the_runbook_marker(suite):
    suite.run("--markers").stdout.fnmatch_lines(["@pytest.mark.runbook(*step_ids): the runbook step(s) *"])
