"""What the run writes for people and machines: the terminal's "Suggested remediation" section, the
remediation in the JUnit failure text, the Markdown summary, the JSON records and HTML columns, the
Pushgateway metrics, and the report of a run stopped by SIGTERM. Reads runbook and core.
"""
