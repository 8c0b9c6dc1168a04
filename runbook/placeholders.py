"""The values a remediation's ``{placeholders}`` are filled with from the environment config: names,
URLs without credentials, and the complete operator commands (kubectl, helm, redis-cli, psql, aws
targets; the rollback command) for this environment. Never a secret.

The catalog (:mod:`runbook.catalog`) accepts exactly :data:`PLACEHOLDERS` as environment placeholders;
the runbook plugin fills them once per session.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from core.config import Environment, KubernetesSection, PostgresSection, RedisSection, strip_credentials

__all__ = ["ALTERNATIVE_KEYWORDS", "PLACEHOLDERS", "alternatives", "helm_target", "kubectl_target", "placeholders", "rollback_command"]

#: The names :func:`placeholders` can provide (the remediation catalog's vocabulary).
PLACEHOLDERS = frozenset({
    "env", "env_file", "namespace", "deployment", "pod_selector", "kubectl_target", "secret_name",
    "private_key_field", "public_key_field", "jwks_url", "redis_url_redacted", "redis_cli", "psql",
    "bucket", "region", "kms_key_id", "role_name", "role_policy_name", "aws_target", "health_live_url",
    "health_ready_url", "grafana_url", "ingress_controller_namespace", "ingress_controller_deployment",
    "rollback_command", "helm_target", "helm_release", "db_idle_minutes", "db_application",
})


def placeholders(env: Environment) -> dict[str, str]:
    """Values the runbook's remediation commands are filled with, for this environment.

    Never a secret: URLs and DSNs are stripped of credentials.
    """
    selection = env.selection or env.name
    if "/" in selection or selection.endswith(".toml"):  # a path: absolute, as {pytest} runs from the project
        selection = str(env.path.resolve())
    values: dict[str, str] = {"env": selection, "env_file": env.display_path}
    if (k := env.kubernetes) is not None:
        values |= {"namespace": k.namespace, "deployment": k.deployment,
                   "pod_selector": k.pod_selector, "kubectl_target": kubectl_target(k)}
    if (o := env.oauth) is not None:
        values |= {"secret_name": o.secret_name, "jwks_url": o.jwks_url,
                   "private_key_field": o.private_key_field, "public_key_field": o.public_key_field}
    if (r := env.redis) is not None:
        values["redis_url_redacted"] = strip_credentials(r.url)
        values["redis_cli"] = _redis_cli(r)
    if (p := env.postgres) is not None:
        values["psql"] = _operator_psql(p)
    if (a := env.aws) is not None:
        target = f" --region {a.region}"
        if a.endpoint_url:
            target = f" --endpoint-url {a.endpoint_url}" + target
        if a.operator_profile or a.profile:
            target += f" --profile {a.operator_profile or a.profile}"
        # Without a configured key, the command reads the bucket's own default key itself.
        key = a.kms_key_id or (
            f"\"$(aws s3api get-bucket-encryption --bucket {a.bucket}{target} --query "
            "'ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.KMSMasterKeyID' "
            "--output text)\"")
        values |= {"bucket": a.bucket, "region": a.region, "role_name": a.role_name,
                   "role_policy_name": a.role_policy_name, "aws_target": target, "kms_key_id": key}
    if (h := env.app) is not None:
        values |= {"health_live_url": h.health_live_url, "health_ready_url": h.health_ready_url}
    values["grafana_url"] = (env.links.grafana_url if env.links is not None and env.links.grafana_url
                             else f"your metrics dashboard (links.grafana_url is not set in {env.display_path})")
    values |= {"db_idle_minutes": f"{env.db_pool.idle_minutes:g}",
               "db_application": env.db_pool.app_application_name
               or (env.kubernetes.deployment if env.kubernetes else "app")}
    values |= {"ingress_controller_namespace": env.outage.ingress_controller_namespace,
               "ingress_controller_deployment": env.outage.ingress_controller_deployment}
    if env.kubernetes is not None:
        values |= {"rollback_command": rollback_command(env), "helm_target": helm_target(env),
                   "helm_release": env.rollback.helm_release or env.kubernetes.deployment}
    return values

def helm_target(env: Environment) -> str:
    """`` -n NS --kubeconfig F --kube-context C``: what a printed helm command needs (helm reads the
    current context otherwise), as the engineer's operator context."""
    k = env.kubernetes
    target = f" -n {env.rollback.helm_namespace or k.namespace}"
    if k.kubeconfig:
        target += f" --kubeconfig {k.kubeconfig}"
    if k.operator_context or k.context:
        target += f" --kube-context {k.operator_context or k.context}"
    return target

def rollback_command(env: Environment) -> str:
    """The runbook's Rollback Procedures step 1 for this environment, never a bare rollback.

    Helm (rollback.helm_release): ``helm rollback RELEASE N`` to the newest *superseded* revision,
    which the command reads from ``helm history`` itself (a bare ``helm rollback`` goes to the
    previous Helm revision, which may be a failed upgrade or not what runs); it stops, saying
    so, when no revision was ever healthy. Otherwise ``kubectl rollout undo`` (the previous
    ReplicaSet). Both wait, bounded.
    """
    k, release = env.kubernetes, env.rollback.helm_release
    if release:
        target = helm_target(env)
        pick = ("python3 -c 'import json, sys; r = [h[\"revision\"] for h in json.load(sys.stdin) "
                "if h[\"status\"] == \"superseded\"]; print(max(r)) if r else sys.exit(\"no superseded "
                "(once healthy) revision to roll back to: fix forward\")'")
        return (f"REVISION=$(set -o pipefail; helm history {release}{target} --max 50 -o json | {pick}) && "
                f"echo \"rolling {release} back to revision $REVISION\" && "
                f"helm rollback {release} \"$REVISION\"{target} --wait --timeout 5m0s")
    return (f"kubectl rollout undo deployment/{k.deployment} -n {k.namespace}{kubectl_target(k)} && "
            f"kubectl rollout status deployment/{k.deployment} -n {k.namespace}{kubectl_target(k)} --timeout=5m")


def _redis_cli(r: RedisSection) -> str:
    """``redis-cli`` for the configured Redis, authenticating as the suite does: the password by the
    name of the variable it came from (redis-cli reads REDISCLI_AUTH), never by its value."""
    parts = urlsplit(r.url)
    command = f"redis-cli -h {parts.hostname or '127.0.0.1'} -p {parts.port or 6379}"
    if parts.scheme == "rediss":
        command += " --tls"
    if parts.path.strip("/"):
        command += f" -n {parts.path.strip('/')}"
    if r.password is not None and r.password.variable:
        var = r.password.variable  # unset, redis-cli would answer NOAUTH and exit 0: the shell stops it
        command = f'REDISCLI_AUTH="${{{var}:?export {var} first}}" {command}'
    return command


def _operator_psql(p: PostgresSection) -> str:
    """``psql`` as the engineer's operator role (postgres.operator_dsn), never as the suite's role:
    without one, the suite's DSN minus its user, so libpq takes the engineer's PGUSER. A password
    comes by the name of its variable, and the command stops when that variable is not exported."""
    if p.operator_dsn:
        dsn = p.operator_dsn
    else:
        dsn = " ".join(part for part in p.dsn.split() if not part.lower().startswith("user="))
    command = f"psql '{dsn}'"
    if p.operator_password_env:
        var = p.operator_password_env
        command = f'PGPASSWORD="${{{var}:?export {var} (the operator role\'s password)}}" {command}'
    return command


def kubectl_target(k: KubernetesSection) -> str:
    """`` --kubeconfig F --context C``: what a printed kubectl command needs to reach the cluster."""
    target = f" --kubeconfig {k.kubeconfig}" if k.kubeconfig else ""
    if k.operator_context or k.context:
        target += f" --context {k.operator_context or k.context}"
    return target


#: The keywords a ``remediation`` marker may name an alternative entry under.
ALTERNATIVE_KEYWORDS = frozenset({"identity_provider"})


def alternatives(env: Environment | None) -> frozenset[str]:
    """The keywords of a ``remediation`` marker whose entry applies instead in this environment:
    ``identity_provider`` when ``oauth.jwks_owner`` says the JWKS is a third party's to fix."""
    if env is not None and env.oauth is not None and env.oauth.jwks_owner == "identity-provider":
        return frozenset({"identity_provider"})
    return frozenset()
