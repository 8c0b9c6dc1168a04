"""The runbook side of the suite: the incidents (the one list), the runbook's steps, the remediation
catalog (remediations/*.toml) and its placeholders, and the pytest plugin that ties checks to them
(:mod:`runbook.plugin`, hooks only). Reads core; never imports the sandbox.
"""
