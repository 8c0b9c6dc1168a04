"""The cpu and memory bundles against `python -m sandbox up`, changed by hand with kubectl as an
engineer rehearsing would: the healthy edge cases pass, a pod status patched to an OOMKilled last
state fails `-m memory`, and a PodMetrics replaced in metrics-server's format fails `-m cpu`.

The tests run in file order on one sandbox (one xdist group): the first leaves production healthy,
the other two each change one thing the other does not read.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from tests.suite.runner import run_suite
from tests.suite.test_sandbox_by_hand import sandbox_up  # noqa: F401 - the module's sandbox fixture

pytestmark = pytest.mark.xdist_group("sandbox-cpu-memory-by-hand")


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], input=stdin,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


def _ts(moment: datetime, micro: bool = False) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def _app_pods(kubeconfig: Path) -> list[dict]:
    return json.loads(kubectl(kubeconfig, "get", "pods", "-n", "production", "-l", "app=app-backend",
                              "-o", "json").stdout)["items"]


def _edge_cases(template: dict) -> list[dict]:
    """A pod started seconds ago (no metrics yet) whose readiness probe failed 8 times before it
    became Ready (its startup, as after every rollout), a pod with a native sidecar that has a CPU
    request and no CPU limit and uses more than that request (as it may: nothing throttles it), and
    a Warning event without count (new-API shape)."""
    now = datetime.now(timezone.utc)
    labels = template["metadata"]["labels"]
    spec = {k: v for k, v in template["spec"].items() if k != "nodeName"}
    became_ready = [{**c, "lastTransitionTime": _ts(now - timedelta(seconds=1))} if c["type"] == "Ready" else c
                    for c in template["status"]["conditions"]]
    fresh = {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": f"{template['metadata']['generateName']}fr4sh", "namespace": "production", "labels": labels},
             "spec": {**spec, "nodeName": template["spec"]["nodeName"]},
             "status": {**template["status"], "startTime": _ts(now - timedelta(seconds=4)), "conditions": became_ready,
                        "containerStatuses": [{**template["status"]["containerStatuses"][0], "restartCount": 0,
                                               "state": {"running": {"startedAt": _ts(now - timedelta(seconds=3))}}}]}}
    sidecar = {"name": "log-shipper", "image": "fluent/fluent-bit:3.2.2", "restartPolicy": "Always",
               "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}}
    with_sidecar = json.loads(json.dumps(fresh))
    with_sidecar["metadata"]["name"] = f"{template['metadata']['generateName']}s2dcr"
    with_sidecar["spec"]["initContainers"] = [sidecar]
    with_sidecar["status"]["initContainerStatuses"] = [{
        "name": "log-shipper", "image": sidecar["image"], "imageID": "docker.io/fluent/fluent-bit@sha256:" + "4e" * 32,
        "ready": True, "started": True, "restartCount": 0, "lastState": {},
        "state": {"running": {"startedAt": _ts(now - timedelta(minutes=20))}}}]
    metrics = {"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
               "metadata": {"name": with_sidecar["metadata"]["name"], "namespace": "production"},
               "timestamp": _ts(now), "window": "15.021s",
               "containers": [{"name": "app", "usage": {"cpu": "97304211n", "memory": "309412Ki"}},
                              {"name": "log-shipper", "usage": {"cpu": "61877031n", "memory": "41232Ki"}}]}
    event = {"apiVersion": "v1", "kind": "Event",
             "metadata": {"name": f"{with_sidecar['metadata']['name']}.18ed2a5f0c3b9e00", "namespace": "production"},
             "involvedObject": {"kind": "Pod", "namespace": "production", "name": with_sidecar["metadata"]["name"],
                                "apiVersion": "v1"},
             "reason": "Unhealthy", "message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
             "type": "Warning", "source": {}, "eventTime": _ts(now - timedelta(minutes=3), micro=True),
             "reportingComponent": "kubelet", "reportingInstance": template["spec"]["nodeName"], "action": "Probing"}
    starting = {**event, "metadata": {"name": f"{fresh['metadata']['name']}.18ed2a5f0c3b9e01", "namespace": "production"},
                "involvedObject": {**event["involvedObject"], "name": fresh["metadata"]["name"]},
                "eventTime": _ts(now - timedelta(seconds=3), micro=True),
                "series": {"count": 8, "lastObservedTime": _ts(now - timedelta(seconds=2), micro=True)}}
    return [fresh, with_sidecar, metrics, event, starting]


def test_the_healthy_edge_cases_pass_every_cpu_and_memory_check(sandbox_up, tmp_path):  # noqa: F811
    _, state_dir, env_file = sandbox_up
    kubeconfig = state_dir / "kubeconfig"
    manifest = yaml.safe_dump_all(_edge_cases(_app_pods(kubeconfig)[0]))
    kubectl(kubeconfig, "apply", "-f", "-", stdin=manifest)
    hpa = json.loads(kubectl(kubeconfig, "get", "hpa", "app-backend", "-n", "production", "-o", "json").stdout)
    assert {c["type"]: c["reason"] for c in hpa["status"]["conditions"]}["ScalingLimited"] == "TooFewReplicas"
    run = run_suite(tmp_path, "-m", "cpu or memory", f"--env={env_file}")
    assert run.returncode == 0, run.output
    assert len(run.names("passed")) == 12 and run.names("passed") == {c.name for c in run.cases.values()}  # + db_pool's query check
    usage = run.cases["test_cpu.py::test_container_cpu_usage_is_within_its_limit"]
    assert usage.properties["cpu_unmeasured"].endswith("fr4sh")  # reported, not failed
    assert "sidecar log-shipper of pod" in usage.properties["cpu_above_request_without_limit"]
    assert "62m of its 50m request (124%, no CPU limit)" in usage.properties["cpu_above_request_without_limit"]


def test_a_pod_status_patched_by_hand_to_an_oomkilled_last_state_fails_the_memory_checks(sandbox_up, tmp_path):  # noqa: F811
    _, state_dir, env_file = sandbox_up
    kubeconfig = state_dir / "kubeconfig"
    pod = next(p for p in _app_pods(kubeconfig) if p["metadata"]["name"].endswith("fr4sh") is False)
    name, status = pod["metadata"]["name"], pod["status"]["containerStatuses"][0]
    now = datetime.now(timezone.utc)
    status.update(restartCount=2, state={"running": {"startedAt": _ts(now - timedelta(minutes=1))}},
                  lastState={"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": _ts(now - timedelta(minutes=30)),
                                            "finishedAt": _ts(now - timedelta(minutes=1, seconds=2))}})
    kubectl(kubeconfig, "patch", "pod", name, "-n", "production", "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": {"containerStatuses": [status]}}))
    run = run_suite(tmp_path, "-m", "memory", f"--env={env_file}")
    assert run.returncode == 1, run.output
    assert run.names("failed") == {"test_memory.py::test_no_container_was_oom_killed_recently"}
    case = run.cases["test_memory.py::test_no_container_was_oom_killed_recently"]
    assert f"container app of pod {name} OOMKilled (exit code 137)" in case.text and "2 restarts" in case.text
    assert f"kubectl logs {name} -n production --previous -c app" in case.text


def test_a_pod_metrics_replaced_by_hand_with_950_millicores_fails_the_cpu_usage_check(sandbox_up, tmp_path):  # noqa: F811
    _, state_dir, env_file = sandbox_up
    kubeconfig = state_dir / "kubeconfig"
    name = sorted(p["metadata"]["name"] for p in _app_pods(kubeconfig))[0]
    current = yaml.safe_load(kubectl(kubeconfig, "get", "podmetrics", name, "-n", "production", "-o", "yaml").stdout)
    current["containers"][0]["usage"]["cpu"] = "950000000n"  # 950 millicores, as metrics-server writes it
    kubectl(kubeconfig, "replace", "-f", "-", stdin=yaml.safe_dump(current))
    top = kubectl(kubeconfig, "top", "pod", name, "-n", "production").stdout
    assert top.splitlines()[1].split()[1] == "950m"
    run = run_suite(tmp_path, "-m", "cpu", f"--env={env_file}")
    assert run.returncode == 1, run.output
    assert run.names("failed") == {"test_cpu.py::test_container_cpu_usage_is_within_its_limit"}
    case = run.cases["test_cpu.py::test_container_cpu_usage_is_within_its_limit"]
    assert f"container app of pod {name} at 950m of its 1000m limit (95%)" in case.text
    # cpu.scale-out: the autoscaler first, the pool size x replicas against the database, then top
    assert "kubectl get hpa -n production" in case.text and "kubectl top pods -n production" in case.text


class _SlowToConnect:
    """A loopback API whose every new connection costs 0.8 s before its first answer (a distant
    TLS handshake), then answers at once on the same connection."""

    def __init__(self) -> None:
        import http.server
        import threading
        import time

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.fresh = True

            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                if self.fresh:
                    time.sleep(0.8)
                    self.fresh = False
                body = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health/live"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_api_latency_times_the_answers_not_the_connection_handshake(sandbox_up, tmp_path):  # noqa: F811
    """A warm-up GET opens the connection; the timed GETs use it. A far endpoint's handshake is
    not slowness of the API."""
    _, state_dir, env_file = sandbox_up
    api = _SlowToConnect()
    try:
        far = state_dir / "far-api.toml"
        far.write_text(env_file.read_text() + f'\n[cpu]\nlatency_url = "{api.url}"\n')
        run = run_suite(tmp_path, "-m", "cpu", "-k", "test_api_latency_is_within_budget", f"--env={far}")
    finally:
        api.close()
    assert run.returncode == 0, run.output
