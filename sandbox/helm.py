"""The app's Helm 3 release history, stored as Helm's secrets driver stores it.

One Secret per revision: ``sh.helm.release.v1.<release>.v<N>``, type ``helm.sh/release.v1``, labels
``name``, ``owner=helm``, ``status``, ``version`` (and ``modifiedAt`` when a later revision changed
it); ``data.release`` holds base64(gzip(release JSON)), which the Secret's ``data`` encodes again
(helm ``pkg/storage/driver/util.go`` encodeRelease, ``secrets.go`` newSecretsObject). The release
JSON carries the chart's values in ``config``, as a real one does: the suite must never print them.
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

__all__ = ["CHART_VERSIONS", "encode_release", "release_secret", "seed_release_history"]

# (revision, chart version, app version, status): three upgrades, the last one deployed.
CHART_VERSIONS = ((5, "2.6.1", "1.40.2", "superseded"), (6, "2.7.0", "1.41.3", "superseded"),
                  (7, "2.8.0", "1.42.0", "deployed"))


class Store(Protocol):
    def apply(self, obj: dict[str, Any]) -> dict[str, Any]: ...


def _ts(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def encode_release(release: dict[str, Any]) -> str:
    """Helm's encodeRelease: JSON, gzip (best compression), base64 — the value of ``data.release``
    before the Secret's own base64."""
    return base64.b64encode(gzip.compress(json.dumps(release).encode(), compresslevel=9)).decode()


def release_document(name: str, namespace: str, version: int, status: str, chart_version: str,
                     app_version: str, deployed: datetime, image: str) -> dict[str, Any]:
    """A release as Helm marshals it (pkg/release/release.go): info, chart, config, manifest."""
    return {
        "name": name, "namespace": namespace, "version": version,
        "info": {"first_deployed": _ts(deployed - timedelta(days=90)), "last_deployed": _ts(deployed),
                 "deleted": "", "description": "Upgrade complete" if version > 1 else "Install complete",
                 "status": status},
        "chart": {"metadata": {"name": name, "version": chart_version, "appVersion": app_version,
                               "apiVersion": "v2", "type": "application",
                               "description": "app-backend API for ytvideocreator"},
                  "lock": None, "templates": [], "values": {"replicaCount": 3}, "schema": None, "files": []},
        # The user-supplied values: what `helm get values` shows, and what may hold credentials.
        "config": {"image": {"tag": app_version}, "database": {"pool_size": 50,
                                                                "password": "sandbox-helm-values-password"}},
        "manifest": f"---\n# Source: {name}/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\n"
                    f"metadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n"
                    f"        - name: app\n          image: {image}\n",
    }


def release_secret(name: str, namespace: str, version: int, status: str, release: dict[str, Any],
                   created: datetime, modified: datetime | None = None) -> dict[str, Any]:
    labels = {"name": name, "owner": "helm", "status": status, "version": str(version)}
    if modified is not None:
        labels["modifiedAt"] = str(int(modified.timestamp()))
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": f"sh.helm.release.v1.{name}.v{version}", "namespace": namespace, "labels": labels,
                     "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "data": {"release": base64.b64encode(encode_release(release).encode()).decode()},
    }


def seed_release_history(store: Store, *, name: str, namespace: str, image_repository: str,
                         now: datetime) -> None:
    """Revisions 5-7 of the release: 5 and 6 superseded, 7 deployed (the running 1.42.0)."""
    for index, (version, chart, app, status) in enumerate(CHART_VERSIONS):
        deployed = now - timedelta(hours=2) - timedelta(days=7 * (len(CHART_VERSIONS) - 1 - index))
        release = release_document(name, namespace, version, status, chart, app, deployed,
                                   f"{image_repository}:{app}")
        later = now - timedelta(hours=2) if status == "superseded" else None
        store.apply(release_secret(name, namespace, version, status, release, deployed, later))


def set_status(store, *, name: str, namespace: str, version: int, status: str) -> None:
    """Rewrite one revision's status in its secret (label and release JSON), as Helm does."""
    secret = store.get("v1", "Secret", namespace, f"sh.helm.release.v1.{name}.v{version}")
    if secret is None:
        raise LookupError(f"no Helm revision {version} of {name} in {namespace}")
    raw = gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"])))
    release = json.loads(raw)
    release["info"]["status"] = status
    secret["metadata"]["labels"]["status"] = status
    secret["data"]["release"] = base64.b64encode(encode_release(release).encode()).decode()
    store.apply(secret)
