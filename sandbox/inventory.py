"""What ``python -m sandbox drills`` and ``python -m sandbox steps`` print: the drills by incident, and
the join runbook step -> checks -> remediation -> drills over remediations/runbook.toml's steps. The
checks come from the runbook plugin's scan (:mod:`runbook.inventory`), the join from its listing
(:mod:`runbook.listing`), so ``pytest --runbook-steps`` and these cannot disagree.
"""

from __future__ import annotations

__all__ = ["steps_report", "drills_report"]


_RESOLVED = {"steps": "its printed steps", "caution": "its printed steps with a CAUTION step",
             "": "not shown yet (python -m sandbox rehearse NAME --auto)"}


def drills_report() -> str:
    """Per incident: each drill, the checks it must fail (or leave unverifiable), its remediations."""
    from sandbox.drills import by_incident

    lines = []
    for incident, drills in by_incident().items():
        lines.append(f"-m {incident}")
        for drill in drills:
            lines.append(f"  {drill.name:30} {drill.summary}")
            for nodeid in sorted(drill.fails):
                lines.append(f"  {'':30} fails  {nodeid}")
            for nodeid in sorted(drill.errors):
                lines.append(f"  {'':30} errors {nodeid}")
            lines.append(f"  {'':30} suggests {', '.join(sorted(drill.remediations))}")
            lines.append(f"  {'':30} resolved by {_RESOLVED.get(drill.resolved_by)}")
        lines.append("")
    lines.append("run one: pytest -m <incident> --drill <name>")
    return "\n".join(lines)


def steps_report() -> str:
    """Each step of remediations/runbook.toml -> its checks -> their remediation -> the drills that fail
    them; then the steps no check automates (``pytest --runbook-steps`` does the same from the runbook file)."""
    from runbook.listing import steps_listing
    from runbook.steps import STEPS_PATH, load_steps
    from sandbox.drills import failing

    return steps_listing(load_steps().values(), str(STEPS_PATH.relative_to(STEPS_PATH.parents[1])), drills=failing)
