#!/bin/sh
# The post-deploy gate for any CI system: the runbook's deploy checks against an environment, the
# JUnit XML, Markdown summary and JSON records in $RUNBOOK_REPORTS (default reports/), the summary
# appended to $GITHUB_STEP_SUMMARY when set, and an exit code the pipeline can act on:
#   0 healthy; 1 a check failed or could not be verified; 5 no check ran (a gate that checked
#   nothing does not pass); 143 stopped by SIGTERM (cancelled job); anything else: the suite did not run.
#   usage: deploy/ci/gate.sh [ENV] [PYTEST ARGS...]     (ENV defaults to production)
#   RUNBOOK_GATE_MARKER (default deploy) chooses the checks; PYTEST the pytest command.
set -u
environment=${1:-production}
[ $# -gt 0 ] && shift
marker=${RUNBOOK_GATE_MARKER:-deploy}
reports=${RUNBOOK_REPORTS:-reports}
mkdir -p "$reports"
# Paths as one word each (--opt=PATH): pytest would take a separate path for a test path.
${PYTEST:-pytest} -m "$marker" --env="$environment" --junitxml="$reports/gate.xml" \
    --runbook-summary="$reports/gate.md" --runbook-json="$reports/gate.json" "$@"
status=$?
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$reports/gate.md" ]; then
    cat "$reports/gate.md" >> "$GITHUB_STEP_SUMMARY"
fi
case $status in
    0) echo "runbook gate: $environment is healthy after the deploy" ;;
    1) echo "runbook gate: FAILED: $environment is unhealthy or could not be verified; see $reports/gate.md" ;;
    5) echo "runbook gate: FAILED: no '$marker' check ran against $environment" ;;
    143) echo "runbook gate: interrupted by SIGTERM; the unfinished checks are recorded as interrupted" ;;
    *) echo "runbook gate: the suite could not run (pytest exit status $status)" ;;
esac
exit $status
