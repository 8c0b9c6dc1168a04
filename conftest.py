"""Loads the suite's plugins: environment config, fixtures, the sandbox, and the remediation plugin.

Data flows one way: environment config -> fixtures (clients, observations) -> checks (assert) ->
remediation plugin (suggested remediation, JUnit properties, Markdown summary).
"""

pytest_plugins = [
    "fixtures.config",
    "fixtures.prefetch",
    "fixtures.kube",
    "fixtures.workload",
    "fixtures.oauth",
    "fixtures.revocation",
    "fixtures.postgres",
    "fixtures.db_pool",
    "fixtures.outage",
    "fixtures.app",
    "fixtures.rollout",
    "fixtures.helm",
    "fixtures.aws",
    "fixtures.s3",
    "fixtures.breach",
    "sandbox.plugin",
    "remediations.plugin",
    "remediations.reports",
    "remediations.termination",
]
