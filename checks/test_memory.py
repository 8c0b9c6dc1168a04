"""Incident 5: High Memory Usage / OOMKilled (pods OOMKilled, memory > 90% sustained, CrashLoopBackOff).

Investigation: ``kubectl top pods``, the pods' OOMKilled terminations (``kubectl get events | grep
OOM`` finds none on a real cluster: the kubelet puts no OOM event on the pod; the OOM events are on
the Node, in namespace default), ``kubectl describe deployment`` (limits).
"""

import math

import pytest

from fixtures.pods import format_memory, window_start

pytestmark = [pytest.mark.memory]

_SHOWN = 5


def _listed(containers, describe) -> str:
    shown = "; ".join(describe(c) for c in containers[:_SHOWN])
    return shown + (f" (and {len(containers) - _SHOWN} more)" if len(containers) > _SHOWN else "")


def _suggested(limit, factor: float) -> str:
    """``factor`` times a limit in bytes, as values.yaml would say it (``2Gi``, ``1536Mi``)."""
    mib = math.ceil(limit * factor / (1 << 20))
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


@pytest.mark.remediation("memory.find-leaks")
@pytest.mark.runbook("incident-5/investigation-2", "incident-5/symptoms", "incident-5/resolution-3")
def test_no_container_was_oom_killed_recently(env, workload_pods, observed):
    """No container of the deployment's pods was OOMKilled (exit code 137) within memory.oom_window_minutes.

    Runbook, Incident 5, investigation 2: check the pods for OOMKilled (lastState.terminated, or
    state.terminated with restartPolicy Never; init containers and sidecars too).
    """
    killed = workload_pods.oom_killed(since=window_start(env.memory.oom_window_minutes))
    if killed:
        observed(pod_name=killed[0].pod, container=killed[0].name)

    def describe(c) -> str:
        last = c.last_terminated
        limit = c.limits.get("memory")
        return (f"{c} {last.get('reason', 'killed')} (exit code {last.get('exitCode')}) at {last.get('finishedAt')}, "
                f"{c.restart_count} restarts, memory limit {format_memory(limit) if limit else 'none'}")

    assert not killed, (
        f"{len(killed)} containers of {workload_pods.selector} were OOMKilled within "
        f"{env.cite('memory.oom_window_minutes')} minutes: {_listed(killed, describe)}"
    )


@pytest.mark.remediation("memory.scale-out")
@pytest.mark.runbook("incident-5/investigation-2")
def test_nodes_running_the_pods_report_no_oom_kills(env, workload_pods, node_events, observed):
    """No node running the deployment's pods reported SystemOOM or OOMKilling within memory.oom_window_minutes.

    Runbook, Incident 5, investigation 2: ``kubectl get events | grep OOM``, where the OOM events
    are: on the Node (kubelet's SystemOOM, node-problem-detector's OOMKilling), in namespace default.
    """
    since = window_start(env.memory.oom_window_minutes)
    recent = [e for e in node_events if e.last_seen is None or e.last_seen >= since]
    if recent:
        replicas = len(workload_pods)
        observed(replicas=replicas, target_replicas=max(env.memory.scale_to_replicas, replicas + max(1, replicas // 2)))
    shown = "; ".join(f"node {e.name} {e.reason} x{e.count} at {e.last_seen:%H:%M:%S}Z: {e.message[:160]}"
                      for e in recent[:_SHOWN])
    assert not recent, (
        f"{len(recent)} OOM events on the {len(workload_pods.nodes)} nodes running {workload_pods.selector} "
        f"within {env.cite('memory.oom_window_minutes')} minutes: {shown}"
    )


@pytest.mark.remediation("memory.raise-limits")
@pytest.mark.runbook("incident-5/investigation-1", "incident-5/symptoms", "incident-5/resolution-1")
def test_container_memory_is_within_its_limit(env, workload_pods, pod_metrics, observed):
    """Every container's working-set memory is at most memory.max_percent of its memory limit.

    Runbook, Incident 5, investigation 1: kubectl top pods -n production (working set, as the
    kernel's OOM killer counts it). Containers without a limit are the next check's.
    """
    readings = []
    for container in workload_pods.containers:
        usage, limit = pod_metrics.of(container), container.limits.get("memory")
        if usage is not None and limit:
            readings.append((float(usage.memory / limit * 100), container, usage.memory, limit))
    readings.sort(key=lambda r: (-r[0], r[1].pod, r[1].name))
    high = [r for r in readings if r[0] > env.memory.max_percent]
    if high:
        _, container, _, limit = high[0]
        observed(container=container.name, current_limit=format_memory(limit),
                 suggested_limit=_suggested(limit, env.memory.limit_increase_factor))
    shown = "; ".join(f"{c} at {format_memory(used)} of its {format_memory(limit)} limit ({percent:.0f}%)"
                      for percent, c, used, limit in high[:_SHOWN])
    assert not high, (
        f"{len(high)} of {len(readings)} containers of {workload_pods.selector} use more than "
        f"{env.cite('memory.max_percent')}% of their memory limit: {shown}"
    )


@pytest.mark.remediation("memory.raise-limits")
@pytest.mark.runbook("incident-5/investigation-3", "incident-5/prevention-1")
def test_every_container_has_a_memory_limit_no_lower_than_its_requests(env, workload_pods, observed):
    """Every container (init containers and sidecars too) has a memory limit, and requests are within limits.

    Runbook, Incident 5, investigation 3: kubectl describe deployment app-backend | grep -A 5 Limits.
    """
    problems = []
    for container in workload_pods.containers:
        limits, requests = container.limits, container.requests
        if not limits.get("memory"):
            problems.append((container, "no memory limit"))
        for resource in ("memory", "cpu"):
            if limits.get(resource) and requests.get(resource, 0) > limits[resource]:
                problems.append((container, f"{resource} request above its limit"))
    if problems:
        container = problems[0][0]
        limit, request = container.limits.get("memory"), container.requests.get("memory")
        base = max(limit or 0, request or 0)
        observed(container=container.name, current_limit=format_memory(limit) if limit else "none",
                 suggested_limit=_suggested(base, env.memory.limit_increase_factor) if base
                 else "a limit above its working set (kubectl top pods --containers)")
    by_container = sorted({f"{c.kind} {c.name}: {why}" for c, why in problems})
    pods = len({c.pod for c, _ in problems})
    assert not problems, (
        f"{pods} pods of {workload_pods.selector} have containers without sound memory limits: {'; '.join(by_container)}"
    )


@pytest.mark.remediation("memory.restart-pods")
@pytest.mark.runbook("incident-5/symptoms", "incident-5/resolution-4")
def test_no_container_is_crash_looping_or_restarting_often(env, workload_pods, observed):
    """No container waits in CrashLoopBackOff, and none restarted more than memory.max_restarts times
    with its last termination within memory.oom_window_minutes.

    Runbook, Incident 5, symptoms: CrashLoopBackOff. The last termination reason says why.
    """
    looping = workload_pods.crash_looping()
    restarting = [c for c in workload_pods.restarting(since=window_start(env.memory.oom_window_minutes),
                                                      more_than=env.memory.max_restarts) if c not in looping]
    found = looping + restarting
    if found:
        observed(pod_name=found[0].pod, container=found[0].name)

    def describe(c) -> str:
        last = c.last_terminated
        state = "in CrashLoopBackOff" if c in looping else "restarting"
        return (f"{c} {state}, {c.restart_count} restarts, last terminated {last.get('reason', 'for no reported reason')} "
                f"(exit code {last.get('exitCode')}) at {last.get('finishedAt')}")

    assert not found, (
        f"{len(found)} containers of {workload_pods.selector} crash or restart (more than "
        f"{env.cite('memory.max_restarts')} in {env.memory.oom_window_minutes} minutes): {_listed(found, describe)}"
    )
