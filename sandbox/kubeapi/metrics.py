"""metrics.k8s.io as metrics-server answers it: computed at each request, never paginated.

The store holds what the kubelets last reported (``PodMetrics``/``NodeMetrics`` objects the sandbox
seeds, and that the sandbox-admin identity may write by hand). A read renders them the way
metrics-server's API does (``pkg/api/pod.go``, ``node.go``):

- only for pods that exist and run, and nodes that exist; labels are the pod's or node's own;
- metadata holds name, namespace, labels and ``creationTimestamp`` = the time of the request, no uid,
  no resourceVersion; a list's metadata is ``{}``;
- ``timestamp`` is the last scrape (within the 15 s resolution), ``window`` the measured interval
  between two scrapes as a Go duration (``"15.127s"``);
- CPU in canonical decimal form of integer nanocores (``"329087452n"``, ``"950m"``), memory in
  canonical binary form of bytes (``"2748180Ki"``).
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime, timedelta
from typing import Any

from fixtures.quantity import parse_quantity

__all__ = ["canonical_cpu", "canonical_memory", "go_duration", "render_pod", "render_node", "check_usage"]

_DECIMAL_SUFFIXES = ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k"), (0, ""), (-3, "m"), (-6, "u"))
_BINARY_SUFFIXES = ((6, "Ei"), (5, "Pi"), (4, "Ti"), (3, "Gi"), (2, "Mi"), (1, "Ki"))


def _decimal(value: int, exponent: int) -> str:
    """``value * 10**exponent`` in apimachinery's canonical decimal form (largest exact suffix)."""
    if value == 0:
        return "0"
    for power, suffix in _DECIMAL_SUFFIXES:
        if power >= exponent and value % 10 ** (power - exponent) == 0:
            return f"{value // 10 ** (power - exponent)}{suffix}"
    return f"{value}n" if exponent == -9 else f"{value}e{exponent}"


@functools.lru_cache(maxsize=8192)  # a list of 20,000 pods renders a few hundred distinct values
def canonical_cpu(quantity: str) -> str:
    """A CPU quantity as integer nanocores in canonical form, as metrics-server serializes it."""
    return _decimal(round(parse_quantity(quantity) * 10**9), -9)


@functools.lru_cache(maxsize=8192)
def canonical_memory(quantity: str) -> str:
    """A memory quantity as integer bytes in canonical binary form (``Ki``, ``Mi``, or plain bytes)."""
    value = round(parse_quantity(quantity))
    if -1024 < value < 1024:
        return _decimal(value, 0)
    for power, suffix in _BINARY_SUFFIXES:
        if value % 1024**power == 0:
            return f"{value // 1024**power}{suffix}"
    return str(value)


def go_duration(milliseconds: int) -> str:
    """Go's ``time.Duration.String`` for a whole number of milliseconds (``20064`` -> ``"20.064s"``)."""
    minutes, rest = divmod(milliseconds, 60_000)
    seconds = f"{rest // 1000}.{rest % 1000:03d}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{seconds}" if minutes else seconds


def _scrape(name: str, now: datetime) -> tuple[str, str]:
    """The last scrape's timestamp and measured window for one object, stable per name."""
    digest = _digest(name)
    return _stamp(now.replace(microsecond=0) - timedelta(seconds=digest % 15)), go_duration(14_500 + digest % 1000)


@functools.lru_cache(maxsize=32768)
def _digest(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


@functools.lru_cache(maxsize=64)  # one request renders every object within the same 15 s
def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _usage(usage: dict[str, str]) -> dict[str, str]:
    return {"cpu": canonical_cpu(usage.get("cpu", "0")), "memory": canonical_memory(usage.get("memory", "0"))}


def _metadata(name: str, namespace: str | None, labels: dict[str, str] | None, now: datetime) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["creationTimestamp"] = _stamp(now.replace(microsecond=0))
    if labels:
        metadata["labels"] = labels
    return metadata


def render_pod(stored: dict[str, Any], pod: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The PodMetrics metrics-server serves for ``pod`` from the kubelet's last report ``stored``."""
    meta = pod["metadata"]
    timestamp, window = _scrape(f"{meta['namespace']}/{meta['name']}", now)
    return {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": _metadata(meta["name"], meta["namespace"], meta.get("labels"), now),
            "timestamp": timestamp, "window": window,
            "containers": [{"name": c.get("name", ""), "usage": _usage(c.get("usage") or {})}
                           for c in stored.get("containers") or []]}


def render_node(stored: dict[str, Any], node: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The NodeMetrics metrics-server serves for ``node`` from its kubelet's last report ``stored``."""
    name = node["metadata"]["name"]
    timestamp, window = _scrape(name, now)
    return {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": _metadata(name, None, node["metadata"].get("labels"), now),
            "timestamp": timestamp, "window": window, "usage": _usage(stored.get("usage") or {})}


def check_usage(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Validation causes for a written PodMetrics/NodeMetrics whose usage is not made of quantities."""
    places = [("usage", obj.get("usage"))] if obj.get("kind") == "NodeMetrics" else [
        (f"containers[{n}].usage", c.get("usage") if isinstance(c, dict) else None)
        for n, c in enumerate(obj.get("containers") or [])]
    causes = []
    for where, usage in places:
        for resource, value in (usage or {}).items() if isinstance(usage, dict) else [("", usage)]:
            try:
                parse_quantity(value)
            except ValueError:
                causes.append(("FieldValueInvalid", f"{where}.{resource}".rstrip("."),
                               f"Invalid value: {value!r}: quantities must match the regular expression "
                               "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"))
    return causes
