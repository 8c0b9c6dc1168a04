"""What the cpu and memory drills' one runs must show beyond the checks they fail: the names and
numbers an on-call engineer reads, and the commands filled in for this incident (test_drills.py
runs each drill once and hands its run to these)."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.suite.runner import SuiteRun

__all__ = ["CLUSTER_EVIDENCE"]

_CPU, _MEMORY = "test_cpu.py::", "test_memory.py::"


def _steps(run: SuiteRun, nodeid: str) -> str:
    return run.cases[nodeid].properties["remediation_steps"]


def _previous_logs_suggested(run: SuiteRun, nodeid: str, evidence: str) -> None:
    """The check names the pod (``evidence`` matches it as group 1) and the remediation reads the
    logs of its previous container."""
    case = run.cases[nodeid]
    pod = re.search(evidence, case.text)
    assert pod, case.text
    assert f"kubectl logs {pod.group(1)} -n production --previous -c app" in _steps(run, nodeid)


def _cpu_saturated(run: SuiteRun) -> None:
    case = run.cases[_CPU + "test_container_cpu_usage_is_within_its_limit"]
    hottest = re.search(r"hottest: container app of pod (app-backend-\S+) at (9\d\d)m of its 1000m limit \((9\d)%\)",
                        case.text)
    assert hottest, case.text
    # The message names the hottest pod; the steps list every pod hottest first (the latency and HPA
    # checks, which suggest the same steps, know no hottest pod to fill in).
    assert re.search(r"kubectl top pods -n production .*--sort-by=cpu", _steps(run, case.name))
    assert "kubectl scale deployment app-backend --replicas=10 -n production" in _steps(run, case.name)
    latency = run.cases[_CPU + "test_api_latency_is_within_budget"].text
    assert re.search(r"answered in \d{3,} ms at p95 of 5 GETs .* above cpu.latency_budget_ms = 500 \(default\)", latency)


def _cpu_hpa_maxed(run: SuiteRun) -> None:
    case = run.cases[_CPU + "test_hpa_is_not_pinned_at_max_replicas"]
    assert "HPA app-backend is pinned at maxReplicas 10: 10 current, 10 desired, cpu 96%/70%" in case.text
    assert "ScalingLimited True TooManyReplicas" in case.text
    steps = _steps(run, case.name)
    assert "kubectl scale deployment app-backend --replicas=15 -n production" in steps
    # The command finds the deployment's HPA itself (not every failing check read it).
    assert 'kubectl patch hpa "$HPA" -n production' in steps and '"maxReplicas": 15' in steps


def _cpu_hpa_blind(run: SuiteRun) -> None:
    case = run.cases[_CPU + "test_hpa_is_able_to_scale_and_sees_its_metrics"]
    assert "ScalingActive False FailedGetResourceMetric: the HPA was unable to compute the replica count" in case.text


def _cpu_warning_events(run: SuiteRun) -> None:
    case = run.cases[_CPU + "test_pods_have_no_burst_of_warning_events"]
    assert "Unhealthy x18 on 3 pods" in case.text and "Readiness probe failed" in case.text
    pod = re.search(r"\(e\.g\. (app-backend-\S+):", case.text).group(1)
    assert f"kubectl describe pod {pod} -n production" in _steps(run, case.name)


def _cpu_node_pressure(run: SuiteRun) -> None:
    case = run.cases[_CPU + "test_nodes_running_the_pods_have_cpu_headroom"]
    assert "ip-10-0-1-11.ec2.internal at 3811m of 3920m allocatable (97%)" in case.text


def _memory_oomkilled(run: SuiteRun) -> None:
    _previous_logs_suggested(run, _MEMORY + "test_no_container_was_oom_killed_recently",
                             r"container app of pod (app-backend-\S+) OOMKilled \(exit code 137\) at \S+, 1 restarts, "
                             r"memory limit 1024Mi")
    node = run.cases[_MEMORY + "test_nodes_running_the_pods_report_no_oom_kills"].text
    assert "OOMKilling x1" in node and "Memory cgroup out of memory: Killed process" in node


def _memory_near_limit(run: SuiteRun) -> None:
    case = run.cases[_MEMORY + "test_container_memory_is_within_its_limit"]
    assert re.search(r"at 983Mi of its 1024Mi limit \(96%\)", case.text), case.text
    assert "-c app --limits=memory=2Gi" in _steps(run, case.name)


def _memory_no_limits(run: SuiteRun) -> None:
    case = run.cases[_MEMORY + "test_every_container_has_a_memory_limit_no_lower_than_its_requests"]
    assert "sidecar log-shipper: no memory limit" in case.text
    assert "-c log-shipper --limits=memory=128Mi" in _steps(run, case.name)


def _memory_crashloop(run: SuiteRun) -> None:
    _previous_logs_suggested(run, _MEMORY + "test_no_container_is_crash_looping_or_restarting_often",
                             r"container app of pod (app-backend-\S+) in CrashLoopBackOff, 5 restarts, "
                             r"last terminated Error \(exit code 1\)")


CLUSTER_EVIDENCE: dict[str, list[Callable[[SuiteRun], None]]] = {
    "cpu-saturated": [_cpu_saturated],
    "cpu-hpa-maxed": [_cpu_hpa_maxed],
    "cpu-hpa-blind": [_cpu_hpa_blind],
    "cpu-warning-events": [_cpu_warning_events],
    "cpu-node-pressure": [_cpu_node_pressure],
    "memory-oomkilled": [_memory_oomkilled],
    "memory-near-limit": [_memory_near_limit],
    "memory-no-limits": [_memory_no_limits],
    "memory-crashloop": [_memory_crashloop],
}
