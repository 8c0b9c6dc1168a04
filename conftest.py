"""Loads the suite's plugins: environment config, fixtures, the sandbox, and the remediation plugin.

Data flows one way: environment config -> fixtures (clients, observations) -> checks (assert) ->
remediation plugin (suggested remediation, JUnit properties, Markdown summary).
"""

pytest_plugins = [
    "fixtures.environment",
    "transport.prefetch",
    "transport.kube",
    "fixtures.pods",
    "fixtures.cpu",
    "fixtures.oauth",
    "fixtures.revocation",
    "transport.postgres",
    "fixtures.db_pool",
    "fixtures.outage",
    "fixtures.app",
    "fixtures.deploy",
    "fixtures.rollback",
    "transport.aws",
    "fixtures.s3",
    "fixtures.breach",
    "runbook.plugin",
    "reporting.results",
    "reporting.junit",
    "reporting.terminal",
    "reporting.markdown",
    "reporting.records",
    "reporting.termination",
]
