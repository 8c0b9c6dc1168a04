"""The Kubernetes client against hostile API servers and credential plugins: lists bounded in pages,
items and bytes, a repeated continue token caught, 410 Expired restarted once, logs asked with
tailLines and limitBytes, exec plugins bounded and their failures one sentence, a garbage CA one
could-not-verify."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import kubernetes.config  # noqa: F401  (imported here once, not inside a timed call)
import pytest

from core.config import KubernetesSection
from core.errors import Unverifiable
from transport.kube import KubeReader
from tests.hostile import peers
from tests.suite.runner import run_suite

TIMEOUT = 1.5
PODS = "/api/v1/namespaces/production/pods"


def section(config: str, **overrides) -> KubernetesSection:
    values = dict(namespace="production", deployment="app-backend", pod_selector="app=app-backend",
                  kubeconfig=config, request_timeout_seconds=TIMEOUT, page_size=2, max_list_items=10)
    return KubernetesSection(**{**values, **overrides})


def pod(name: str) -> dict:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "app"}]}}


def listing(tmp_path, answer, **overrides):
    """List the pods from a peer; (result or exception, seconds, peak bytes, the peer's requests)."""
    with peers.KubePeer(answer) as peer:
        reader = KubeReader(section(peers.kubeconfig(tmp_path / "kubeconfig", peer.url), **overrides))
        result, elapsed, peak = peers.timed(lambda: reader.list(PODS, label_selector="app=app-backend"))
        reader.close()
    assert elapsed <= TIMEOUT + 1, f"{elapsed:.1f} s"
    assert peak < 128 << 20, f"peak {peak >> 20} MiB"
    return result, peer.paths


def page(items, token=None):
    return {"kind": "PodList", "metadata": {"resourceVersion": "1", **({"continue": token} if token else {})},
            "items": items}


@pytest.mark.parametrize(("answer", "sentence", "requests"), [
    (lambda path, q: (200, page([pod("a")], "same-token")),
     "answered the list of {PODS} with a continue token it had already given, after 2 pages; stopped paging", 2),
    (lambda path, q: (200, page([], f"token-{q.get('continue', '')}x")),
     "kept answering the list of {PODS} with a new continue token for 7 pages (0 items), more than "
     "kubernetes.max_list_items = 10 at 2 a page allows; stopped paging", 7),
    (lambda path, q: (200, page([pod(f"p{i}") for i in range(3_000)])),
     "lists more than kubernetes.max_list_items = 10 items at {PODS}; stopped reading", 1),
    (lambda path, q: (200, iter([b'{"items": ['] + [b'{"metadata": {}},' * 4096] * 2000)),
     "(GET {PODS}) sent more than the cap for a Kubernetes list page (32 MiB); stopped reading", 1),
    (lambda path, q: (410, {"kind": "Status", "reason": "Expired", "code": 410}) if "continue" in q
     else (200, page([pod("a")], "t1")),
     "the list of {PODS} expired again while paging (410 Gone, after a restart from the first page)", 4),
], ids=["repeated-continue", "endless-continue", "ignores-limit", "huge-page", "expired-twice"])
def test_a_hostile_list_is_bounded_and_one_sentence(tmp_path, answer, sentence, requests):
    error, paths = listing(tmp_path, answer)
    assert isinstance(error, Unverifiable) and error.suite_access, error
    assert sentence.format(PODS=PODS) in str(error)
    assert len(paths) == requests
    assert all(q["limit"] == "2" and q["labelSelector"] == "app=app-backend" for _, q in paths)


def test_an_expired_continue_token_restarts_the_list_once_from_the_first_page(tmp_path):
    expired = []

    def answer(path, q):
        if q.get("continue") == "t1" and not expired:
            expired.append(1)
            return 410, {"kind": "Status", "reason": "Expired", "code": 410}
        return (200, page([pod("b")])) if "continue" in q else (200, page([pod("a")], "t1"))

    items, paths = listing(tmp_path, answer)
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    assert [q.get("continue") for _, q in paths] == [None, "t1", None, "t1"]


def test_a_pod_log_is_asked_for_its_tail_and_bounded_when_the_server_ignores_that(tmp_path):
    with peers.KubePeer(lambda path, q: (200, iter([b"x" * 65536] * 10_000))) as peer:
        reader = KubeReader(section(peers.kubeconfig(tmp_path / "kubeconfig", peer.url), log_limit_bytes=1 << 20))
        error, elapsed, _ = peers.timed(lambda: reader.log("production", "p1", tail_lines=1000, container="app"))
        reader.close()
    assert "sent more than the cap for a pod log (kubernetes.log_limit_bytes = 1048576)" in str(error)
    assert peer.paths[0][1] == {"tailLines": "1000", "limitBytes": "1048576", "container": "app"}
    assert elapsed <= TIMEOUT + 1


def plugin(tmp_path, script: str) -> dict:
    path = tmp_path / "credential-plugin"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(path), "args": []}}


def reader_with(tmp_path, user: dict, server: str = "http://127.0.0.1:9") -> KubeReader | Exception:
    config = peers.kubeconfig(tmp_path / "kubeconfig", server, user=user)
    result, elapsed, _ = peers.timed(lambda: KubeReader(section(config)))
    assert elapsed <= TIMEOUT + 1, f"{elapsed:.1f} s"
    return result


def test_an_exec_plugin_that_never_exits_is_killed_with_its_children_at_the_request_timeout(tmp_path):
    pids = tmp_path / "pids"
    error = reader_with(tmp_path, plugin(tmp_path, f"sleep 1000 & echo $! > {pids}\nsleep 1000\n"))
    assert str(error) == ("exec credential plugin 'credential-plugin' of kubeconfig user suite did not finish "
                          "within kubernetes.request_timeout_seconds = 1.5 s; its process group was killed")
    assert error.suite_access
    assert not alive(int(pids.read_text()))  # the plugin's own child is gone too


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting for a parent that never reaps it."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.05)
    return True


def test_a_failing_exec_plugin_is_one_sentence_with_its_first_stderr_line_redacted(tmp_path):
    error = reader_with(tmp_path, plugin(tmp_path, "echo >&2\necho 'error: token eyJhbGciOi.eyJzdWIi.c2ln expired "
                                                   "\033[31mfor\033[0m arn:aws:iam::1:role/x' >&2\n"
                                                   "echo second line >&2\nexit 3\n"))
    assert str(error) == ("exec credential plugin 'credential-plugin' of kubeconfig user suite exited with status 3: "
                          "error: token <redacted token> expired for arn:aws:iam::1:role/x")
    assert "401" not in str(error)


def test_the_token_an_exec_plugin_prints_is_sent_as_the_bearer_credential(tmp_path):
    credential = '{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", ' \
                 '"status": {"token": "exec-token-5b1e0c7d9a"}}'
    with peers.KubePeer(lambda path, q: (200, page([pod("a")]))) as peer:
        reader = reader_with(tmp_path, plugin(tmp_path, f"echo '{credential}'\n"), peer.url)
        assert [p["metadata"]["name"] for p in reader.list(PODS)] == ["a"]
        reader.close()
    assert b"authorization: bearer exec-token-5b1e0c7d9a\r\n" in peer.requests[0].lower()


@pytest.mark.parametrize("content", [b"garbage, not a certificate\n", bytes.fromhex("3082010a0282010100c0ffee")],
                         ids=["garbage", "der"])
def test_a_certificate_authority_that_is_not_pem_is_one_could_not_verify(tmp_path, content):
    ca = tmp_path / "ca.crt"
    ca.write_bytes(content)
    config = peers.kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:9", ca=str(ca))
    with pytest.raises(Unverifiable) as excinfo:
        KubeReader(section(config))
    assert str(excinfo.value).startswith(
        f"cannot use the TLS files of the Kubernetes credentials for https://127.0.0.1:9 (certificate-authority {ca}): "
        "they are not PEM certificates and keys")
    assert excinfo.value.suite_access


def test_a_garbage_ca_is_one_cause_in_the_run_and_the_token_is_never_printed(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_bytes(b"\x30\x82garbage")
    token = "kube-token-never-printed-8c1d"
    config = peers.kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:9", token=token, ca=str(ca))
    env_file = tmp_path / "kube.toml"
    env_file.write_text(f'[kubernetes]\nkubeconfig = "{config}"\nnamespace = "production"\ndeployment = "app-backend"\n'
                        'pod_selector = "app=app-backend"\n[oauth]\njwks_url = "http://127.0.0.1:9/jwks.json"\n'
                        'secret_name = "jwt-keys"\nrequest_timeout_seconds = 1\n')
    run = run_suite(tmp_path, "-m", "oauth", f"--env={env_file}", "-l", "--tb=long", "-vv", "-rA")
    errors = [c for c in run.cases.values() if c.outcome == "error"]
    assert errors and all("could not verify: cannot use the TLS files" in c.text for c in errors
                          if "JWKS" not in c.text), run.output
    assert run.output.count("[1] could not verify: cannot use the TLS files") + run.output.count(
        "] could not verify: cannot use the TLS files") >= 1
    assert "Traceback" not in run.output and "ssl.SSLError" not in run.output
    assert token not in run.everything()
