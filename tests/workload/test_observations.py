"""The workload observations read the API's objects as a real cluster writes them: omitted zero
counters, new-API events without count, OOM kills in lastState or state, sidecars, HPA conditions."""

from datetime import datetime, timedelta, timezone

import pytest

from fixtures.cpu import _hpa
from fixtures.pods import Pods, _event, group_by_reason

NOW = datetime.now(timezone.utc)


def _ts(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _hpa_object(current, desired, limited=None, **spec):
    conditions = [{"type": "ScalingLimited", "status": limited[0], "reason": limited[1], "message": "m"}] if limited else []
    status = {"desiredReplicas": desired, "conditions": conditions}
    if current:
        status["currentReplicas"] = current  # omitempty: absent when 0
    return {"metadata": {"name": "app-backend"}, "spec": {"minReplicas": 3, "maxReplicas": 10, **spec}, "status": status}


@pytest.mark.parametrize(("current", "desired", "limited", "pinned"), [
    (3, 3, ("True", "TooFewReplicas"), False),  # idle at minReplicas: healthy
    (5, 5, ("False", "DesiredWithinRange"), False),
    (10, 10, ("False", "DesiredWithinRange"), False),  # at max, wanting exactly max
    (10, 10, ("True", "TooManyReplicas"), True),
    (10, 12, None, True),  # current = max and the recommendation above it
    (0, 0, None, False),  # a new HPA: no currentReplicas key yet
])
def test_an_hpa_is_pinned_only_at_max_with_no_headroom(current, desired, limited, pinned):
    assert _hpa(_hpa_object(current, desired, limited)).pinned_at_max is pinned


def test_event_counts_and_times_come_from_series_count_or_one():
    legacy = {"metadata": {"namespace": "production"}, "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Unhealthy",
              "type": "Warning", "count": 4, "lastTimestamp": _ts(NOW - timedelta(minutes=2)), "eventTime": None}
    series = {"metadata": {"namespace": "production"}, "involvedObject": {"kind": "Pod", "name": "q"}, "reason": "Unhealthy",
              "type": "Warning", "eventTime": _ts(NOW - timedelta(minutes=30)), "lastTimestamp": None,
              "series": {"count": 3, "lastObservedTime": _ts(NOW - timedelta(minutes=1))}}
    single = {"metadata": {"namespace": "production"}, "involvedObject": {"kind": "Pod", "name": "r"}, "reason": "BackOff",
              "type": "Warning", "eventTime": _ts(NOW - timedelta(minutes=5)), "lastTimestamp": None}
    events = [_event(e) for e in (legacy, series, single)]
    assert [e.count for e in events] == [4, 3, 1]
    assert events[1].last_seen > events[0].last_seen > events[2].last_seen
    grouped = group_by_reason(events)
    assert list(grouped) == ["Unhealthy", "BackOff"] and grouped["Unhealthy"][0] == 7


def _pod(name, *, containers=(), init=(), statuses=(), init_statuses=()):
    return {"metadata": {"name": name}, "spec": {"nodeName": "n1", "containers": list(containers), "initContainers": list(init)},
            "status": {"phase": "Running", "containerStatuses": list(statuses), "initContainerStatuses": list(init_statuses)}}


def _terminated(reason, minutes_ago, exit_code):
    return {"terminated": {"reason": reason, "exitCode": exit_code, "finishedAt": _ts(NOW - timedelta(minutes=minutes_ago))}}


def test_oom_kills_are_found_in_last_state_in_state_and_in_sidecars_within_the_window_only():
    app = {"name": "app", "resources": {"limits": {"memory": "1Gi"}, "requests": {"memory": "512Mi"}}}
    sidecar = {"name": "shipper", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}}
    pods = Pods([
        _pod("restarted", containers=[app], statuses=[{"name": "app", "restartCount": 1, "lastState": _terminated("OOMKilled", 5, 137),
                                                        "state": {"running": {}}}]),
        _pod("never-restarts", containers=[app], statuses=[{"name": "app", "restartCount": 0, "lastState": {},
                                                             "state": _terminated("OOMKilled", 3, 137)}]),
        _pod("sidecar", containers=[app], init=[sidecar],
             statuses=[{"name": "app", "restartCount": 0, "lastState": {}, "state": {"running": {}}}],
             init_statuses=[{"name": "shipper", "restartCount": 2, "lastState": _terminated("Error", 2, 137), "state": {"running": {}}}]),
        _pod("long-ago", containers=[app], statuses=[{"name": "app", "restartCount": 1, "lastState": _terminated("OOMKilled", 300, 137),
                                                       "state": {"running": {}}}]),
    ], "app=x", "production")
    killed = pods.oom_killed(since=NOW - timedelta(minutes=60))
    assert [(c.pod, c.name, c.kind) for c in killed] == [
        ("restarted", "app", "container"), ("never-restarts", "app", "container"), ("sidecar", "shipper", "sidecar")]
    sidecar_container = next(c for c in pods.containers if c.name == "shipper")
    assert sidecar_container.requests["cpu"] * 1000 == 50 and "memory" not in sidecar_container.limits
