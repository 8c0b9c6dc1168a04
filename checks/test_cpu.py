"""Incident 1: High CPU Usage (CPU > 80% sustained, slow API responses, application lag).

Investigation: ``kubectl top pods``, ``kubectl get hpa``, ``kubectl describe pod`` (events), the
CPU dashboard (node usage). The "CPU-intensive queries" step is checked in test_db_pool.py.
"""

import pytest

from fixtures.pods import format_cpu, group_by_reason, window_start

pytestmark = [pytest.mark.cpu]

_HOTTEST_SHOWN = 5


def _observe_scale(env, observed, replicas: int) -> None:
    """Record what cpu.scale-out's commands need: the replica count and the target, which is the
    runbook's 10 replicas, or half as many again as there are when that is not more (the commands
    find the deployment's HPA themselves: not every failure path has read it)."""
    target = max(env.cpu.scale_to_replicas, replicas + max(1, replicas // 2))
    observed(replicas=replicas, target_replicas=target)


@pytest.mark.remediation("cpu.scale-out")
@pytest.mark.runbook("incident-1/investigation-1", "incident-1/symptoms", "incident-1/resolution-1")
def test_container_cpu_usage_is_within_its_limit(env, workload_pods, pod_metrics, hpa_or_none, observed, request):
    """Every container of the deployment's pods uses at most cpu.max_percent of its CPU limit.

    Runbook, Incident 1, investigation 1: kubectl top pods -n production. A container without a CPU
    limit is never throttled and may use more than its request by design (the HPA scales at a share
    of the request): it is reported against its request, not failed, and the node headroom check
    covers it. Pods the metrics API has no sample of yet (just started) are reported, not failed.
    """
    limit_percent = env.cpu.max_percent
    readings, unmeasured, unlimited = [], [], []
    for container in workload_pods.containers:
        if container.kind == "init container":
            continue  # ran to completion before the pod started
        usage = pod_metrics.of(container)
        if usage is None:
            unmeasured.append(container.pod if container.pod not in pod_metrics.pods else f"{container.pod}/{container.name}")
            continue
        against, basis = container.limits.get("cpu"), "limit"
        if not against:
            requested = container.requests.get("cpu")
            if requested and usage.cpu / requested * 100 > limit_percent:
                unlimited.append(f"{container} at {format_cpu(usage.cpu)} of its {format_cpu(requested)} request "
                                 f"({float(usage.cpu / requested * 100):.0f}%, no CPU limit)")
            continue
        readings.append((float(usage.cpu / against * 100), container, usage.cpu, against, basis))
    if unmeasured:  # reported as a JUnit property, not failed
        request.node.user_properties.append(("cpu_unmeasured", ", ".join(sorted(set(unmeasured)))))
    if unlimited:  # likewise
        request.node.user_properties.append(("cpu_above_request_without_limit", "; ".join(sorted(unlimited))))
    readings.sort(key=lambda r: (-r[0], r[1].pod, r[1].name))
    hot = [r for r in readings if r[0] > limit_percent]
    if hot:
        _observe_scale(env, observed, len(workload_pods))
    shown = "; ".join(f"{c} at {format_cpu(used)} of its {format_cpu(of)} {basis} ({percent:.0f}%)"
                      for percent, c, used, of, basis in hot[:_HOTTEST_SHOWN])
    more = f" (and {len(hot) - _HOTTEST_SHOWN} more)" if len(hot) > _HOTTEST_SHOWN else ""
    assert not hot, (
        f"{len(hot)} of {len(readings)} containers of {workload_pods.selector} use more than "
        f"{env.cite('cpu.max_percent')}% of their CPU; hottest: {shown}{more}"
    )


@pytest.mark.remediation("cpu.scale-out")
@pytest.mark.runbook("incident-1/investigation-2", "incident-1/resolution-1")
def test_hpa_is_not_pinned_at_max_replicas(env, hpa, workload_pods, observed):
    """The HPA that scales the deployment has headroom: it is not pinned at maxReplicas.

    Runbook, Incident 1, investigation 2: kubectl get hpa -n production. Resting at minReplicas
    (ScalingLimited True TooFewReplicas) is the normal idle state.
    """
    if hpa.pinned_at_max:
        _observe_scale(env, observed, hpa.max_replicas)
    limited = hpa.condition("ScalingLimited")
    why = f"; ScalingLimited {limited[0]} {limited[1]}: {limited[2]}" if limited else ""
    assert not hpa.pinned_at_max, (
        f"HPA {hpa.name} is pinned at maxReplicas {hpa.max_replicas}: {hpa.current_replicas} current, "
        f"{hpa.desired_replicas} desired, {hpa.utilization}{why}"
    )


@pytest.mark.remediation("cpu.scale-out")
@pytest.mark.runbook("incident-1/investigation-2")
def test_hpa_is_able_to_scale_and_sees_its_metrics(env, hpa, workload_pods, observed):
    """The HPA can scale (AbleToScale True) and computes replicas from its metrics (ScalingActive True).

    Runbook, Incident 1, investigation 2: an HPA whose ScalingActive is False is blind (no metrics,
    a bad selector) and will not add pods however hot they run.
    """
    problems = []
    for kind in ("AbleToScale", "ScalingActive"):
        found = hpa.condition(kind)
        if found is None:
            problems.append(f"no {kind} condition reported yet")
        elif found[0] != "True":
            problems.append(f"{kind} {found[0]} {found[1]}: {found[2]}")
    if problems:
        _observe_scale(env, observed, len(workload_pods))
    assert not problems, f"HPA {hpa.name} cannot scale deployment {env.kubernetes.deployment}: {'; '.join(problems)}"


@pytest.mark.remediation("cpu.inspect-pod-logs")
@pytest.mark.runbook("incident-1/investigation-3", "incident-1/resolution-3")
def test_pods_have_no_burst_of_warning_events(env, pod_events, workload_pods, observed):
    """No reason of Warning event on the deployment's pods exceeds cpu.max_warning_events within the window.

    Runbook, Incident 1, investigation 3: kubectl describe pod <pod-name> -n production (Events).
    Counts come from ``count`` or ``series.count``; an event without either counts once. A pod's
    probe failures before it first became Ready (within outage.starting_grace_seconds of its start)
    are its startup, as after every rollout, not a burst.
    """
    since = window_start(env.cpu.event_window_minutes)
    grace_s = env.outage.starting_grace_seconds

    def startup(event) -> bool:
        if event.reason != "Unhealthy" or event.last_seen is None:
            return False
        ready = workload_pods.started_ready_at(event.name, within_s=grace_s)
        return ready is not None and event.last_seen <= ready

    recent = [e for e in pod_events if (e.last_seen is None or e.last_seen >= since) and not startup(e)]
    over = {reason: (total, found) for reason, (total, found) in group_by_reason(recent).items()
            if total > env.cpu.max_warning_events}
    if over:
        reason, (total, found) = next(iter(over.items()))
        busiest = max(found, key=lambda e: e.count)
        observed(pod_name=busiest.name)
    shown = "; ".join(f"{reason} x{total} on {len({e.name for e in found})} pods "
                      f"(e.g. {max(found, key=lambda e: e.count).name}: {max(found, key=lambda e: e.count).message[:160]})"
                      for reason, (total, found) in over.items())
    assert not over, (
        f"Warning events on the pods within {env.cite('cpu.event_window_minutes')} minutes above "
        f"{env.cite('cpu.max_warning_events')} per reason: {shown}"
    )


@pytest.mark.remediation("cpu.scale-out")
@pytest.mark.runbook("incident-1/symptoms")
def test_api_latency_is_within_budget(env, api_latency, workload_pods, hpa_or_none, observed):
    """The p95 of a few GETs of the API is within cpu.latency_budget_ms.

    Runbook, Incident 1, symptoms: slow API response times, application lag.
    """
    budget = env.cpu.latency_budget_ms
    if api_latency.p95_ms > budget:
        _observe_scale(env, observed, len(workload_pods))
    samples = ", ".join(f"{ms:.0f}" for ms in api_latency.samples_ms)
    assert api_latency.p95_ms <= budget, (
        f"API {api_latency.url} answered in {api_latency.p95_ms:.0f} ms at p95 of {len(api_latency.samples_ms)} "
        f"GETs ({samples} ms; HTTP {sorted(set(api_latency.statuses))}), above {env.cite('cpu.latency_budget_ms')}"
    )


@pytest.mark.remediation("cpu.relieve-node")
@pytest.mark.runbook("incident-1/investigation-4")
def test_nodes_running_the_pods_have_cpu_headroom(env, workload_pods, node_cpu, observed):
    """Every node running the deployment's pods uses at most cpu.max_node_percent of its allocatable CPU.

    Runbook, Incident 1, investigation 4: the CPU dashboard, node by node (kubectl top nodes).
    """
    hot, unmeasured = [], []
    for name in sorted(workload_pods.nodes):
        allocatable, used = node_cpu.allocatable_cpu.get(name), node_cpu.usage_cpu.get(name)
        if allocatable is None or used is None:
            unmeasured.append(name)
            continue
        percent = float(used / allocatable * 100)
        if percent > env.cpu.max_node_percent:
            hot.append(f"{name} at {format_cpu(used)} of {format_cpu(allocatable)} allocatable ({percent:.0f}%)")
            if len(hot) == 1:
                observed(node_name=name)
    assert not hot, (
        f"{len(hot)} of the {len(workload_pods.nodes)} nodes running {workload_pods.selector} use more than "
        f"{env.cite('cpu.max_node_percent')}% of their allocatable CPU: {'; '.join(hot)}"
    )
