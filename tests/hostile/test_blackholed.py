"""The whole suite against a world where every dependency accepts TCP and never answers, each on a
peer of its own: every first contact is made once, all of them at once, so the run costs about one
timeout, not one per dependency. And a deploy run reads the health URLs once the rollout it waits
for has settled, not the answers read beside the other first contacts."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections import Counter

from bench.__main__ import BLACKHOLED_AWS, DEPENDENCIES, blackholed_environment
from tests.hostile import peers
from tests.suite.runner import run_suite

TIMEOUT = 2.0  # seconds, every dependency's


class Blackhole(peers.Peer):
    """Accepts connections, reads what the client sends first, never answers; notes when each
    connection came and what it asked (an HTTP request line, a Redis command, a PostgreSQL startup)."""

    def __init__(self) -> None:
        super().__init__(self._hold)
        self.contacts: list[tuple[float, bytes]] = []

    def _hold(self, conn, peer) -> None:
        accepted = time.monotonic()
        conn.settimeout(1)
        try:
            first = conn.recv(4096)
        except TimeoutError:
            first = b""
        self.contacts.append((accepted, first))
        peer.wait(60)

    def paths(self) -> Counter:
        return Counter(first.split(b" ", 2)[1].decode() for _, first in self.contacts if b" " in first)


def test_every_dependency_blackholed_costs_the_run_one_timeout_with_one_contact_each(tmp_path):
    holes = {name: Blackhole() for name in DEPENDENCIES}
    for hole in holes.values():
        hole.__enter__()
    try:
        env_file = blackholed_environment(tmp_path, TIMEOUT, {name: hole.port for name, hole in holes.items()})
        run = run_suite(tmp_path, f"--env={env_file}", env=BLACKHOLED_AWS)
    finally:
        for hole in holes.values():
            hole.__exit__(None, None, None)
    assert run.returncode == 1, run.output
    assert not run.names("passed"), run.names("passed")

    contacts = {name: len(hole.contacts) for name, hole in holes.items()}
    # One each: the JWKS, the PostgreSQL connection, GetCallerIdentity (the client keeps the endpoint
    # down); Redis: the suite's PING and the unauthenticated one; the app: live, ready and the
    # latency check's first GET of live. Kubernetes: the first page of each list the checks read,
    # all requested at once (the pods, their metrics, the HPA, ...), each once: the reader keeps
    # the timeout, and no later GET is sent.
    kube_paths = holes["kube"].paths()
    assert len(kube_paths) >= 5 and set(kube_paths.values()) == {1}, kube_paths
    assert {p.split("?")[0] for p in kube_paths} >= {"/api/v1/namespaces/production/pods",
                                                    "/apis/metrics.k8s.io/v1beta1/namespaces/production/pods"}
    assert {**contacts, "kube": 1} == {"kube": 1, "oauth": 1, "redis": 2, "postgres": 1, "aws": 1, "app": 3}, contacts
    assert holes["app"].paths() == {"/health/live": 2, "/health/ready": 1}
    kube_times = [accepted for accepted, _ in holes["kube"].contacts]
    assert max(kube_times) - min(kube_times) < TIMEOUT, "the cluster's lists were not requested at once"
    firsts = [hole.contacts[0][0] for hole in holes.values()]
    assert max(firsts) - min(firsts) < TIMEOUT, (
        f"the first contacts did not overlap: the last began {max(firsts) - min(firsts):.1f} s after the first")
    spent = sum(float(case.get("time")) for case in ET.fromstring(run.xml).iter("testcase"))
    assert spent < 3 * TIMEOUT, f"the checks took {spent:.1f} s with every dependency blackholed ({TIMEOUT} s timeouts)"

    text = run.output
    for sentence in (
        f"PostgreSQL 127.0.0.1:{holes['postgres'].port}/app did not answer within postgres.connect_timeout_seconds = {int(TIMEOUT)}",
        f"AWS endpoint 127.0.0.1:{holes['aws'].port} did not answer sts:GetCallerIdentity within "
        f"aws.read_timeout_seconds = {TIMEOUT} s",
        f"Redis redis://127.0.0.1:{holes['redis'].port}/0 did not answer an unauthenticated connection",
        f"readiness endpoint {holes['app'].url}/health/ready did not answer",
        f"API {holes['app'].url}/health/live gave no complete answer within app.timeout_seconds = {TIMEOUT} s",
    ):
        assert sentence in text, sentence


def test_a_deploy_run_reads_the_health_urls_after_the_rollout_settled(tmp_path):
    """The app's health answers 503 until the rollout completes (the old pods are going): the
    answers read with the other first contacts are dropped and the URLs read again once the
    rollout settled, as the runbook orders it (step 4, then step 5)."""
    polls = []
    rolled_out = []

    def api(path, query):
        if path.endswith("/deployments/app-backend"):
            polls.append(path)
            done = len(polls) >= 3
            if done:
                rolled_out.append(True)
            return 200, _deployment(updated=2 if done else 1)
        if path.endswith("/pods"):
            return 200, {"kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": []}
        return 404, {"kind": "Status", "message": "not found"}

    def app(path, query):
        if rolled_out:
            return 200, {"status": "ok", "version": "1.2.3"}
        return 503, {"status": "starting"}

    with peers.KubePeer(api) as kube, peers.KubePeer(app) as web:
        env = tmp_path / "deploy.toml"
        env.write_text(f"""\
[kubernetes]
kubeconfig = "{peers.kubeconfig(tmp_path / "kubeconfig", kube.url)}"
namespace = "production"
deployment = "app-backend"
pod_selector = "app=app-backend"

[app]
health_live_url = "{web.url}/health/live"
health_ready_url = "{web.url}/health/ready"

[deploy]
settle_seconds = 20
poll_seconds = 0.2
version_url = "{web.url}/health/live"
""")
        run = run_suite(tmp_path, "-m", "deploy", f"--env={env}")
    assert run.returncode == 0, run.output
    assert {"test_outage.py::test_health_live_answers_200_within_budget",
            "test_outage.py::test_health_ready_answers_200_within_budget",
            "test_deploy.py::test_rollout_completes_within_the_settle_window"} <= run.names("passed"), run.output
    asked = Counter(path for path, _ in web.paths)
    assert asked["/health/ready"] == 2, asked  # one early (dropped), one after the rollout


def _deployment(*, updated: int) -> dict:
    return {
        "kind": "Deployment",
        "metadata": {"name": "app-backend", "namespace": "production", "generation": 2, "uid": "u-1",
                     "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "image": "registry/app:1.2.3"}]}}},
        "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": updated, "availableReplicas": updated,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]},
    }
