"""The real programs the report tests drive: JUnit validated against Jenkins' xUnit schema and read
back with junitparser, Debian's headless Chromium, and a Prometheus Pushgateway on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent
JUNIT_XSD = HERE / "junit-10.xsd"
# As the machine notes say: without the background-networking flags Chromium tries the closed
# network at every start; --no-sandbox because the tests run as root.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (make test installs it from Debian's packages as root)")
    return path


def validate_junit(path: Path) -> None:
    """Raises unless the file is valid against the Jenkins xUnit plugin's junit-10.xsd."""
    import xmlschema

    xmlschema.XMLSchema(JUNIT_XSD).validate(path)


def browse(html: Path, out: Path, *, timeout: float = 90) -> tuple[str, Path]:
    """The page's DOM after its scripts ran, and a PNG screenshot, from headless Chromium."""
    chromium = require("chromium")
    profile = out / "chromium-profile"
    common = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1600,1400",
              "--virtual-time-budget=5000"]
    dom = subprocess.run([*common, "--dump-dom", html.as_uri()], capture_output=True, text=True,
                         timeout=timeout, stdin=subprocess.DEVNULL)
    assert dom.returncode == 0, dom.stderr[-2000:]
    png = out / "report.png"
    shot = subprocess.run([*common, f"--screenshot={png}", html.as_uri()], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    return dom.stdout, png


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def start_pushgateway(log_path: Path) -> tuple[subprocess.Popen, str]:
    """A real Prometheus Pushgateway on loopback (Debian's prometheus-pushgateway), ready; its URL."""
    binary = require("prometheus-pushgateway")
    port = free_port()
    with open(log_path, "wb") as log:
        # Debian builds it to persist into /var/lib/prometheus by default: keep each test's own.
        process = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}",
                                    f"--persistence.file={log_path.with_suffix('.data')}"], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise AssertionError(f"the Pushgateway did not start: {log_path.read_text()[-500:]}")
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gateway_samples(url: str) -> list:
    """Every sample the Pushgateway exposes on /metrics, parsed by prometheus-client."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=5).text
    return [s for family in text_string_to_metric_families(text) for s in family.samples]
