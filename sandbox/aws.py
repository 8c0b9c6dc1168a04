"""S3, IAM, KMS, STS and CloudWatch on loopback (moto in server mode), seeded like production's media bucket.

moto is lax where AWS is not, so a thin WSGI layer in front of it answers as AWS does where the
checks depend on it: an SSE-KMS PutObject with a Disabled or PendingDeletion key is refused (moto
accepts it). The same layer carries the sandbox's AWS faults (:attr:`AwsServer.fault`): a
blackholed endpoint that never answers (or only object reads stall: a partial S3 outage), AccessDenied for every call but sts:GetCallerIdentity
(which AWS never denies), and expired credentials; each error is in the protocol of the service
asked (S3's REST XML, the query XML of IAM/STS/CloudWatch, KMS's JSON).
"""

from __future__ import annotations

import atexit
import io
import json
import logging
import re
import threading
import urllib.request
import uuid
from pathlib import Path

import boto3
from werkzeug.serving import make_server

ACCOUNT_ID = "123456789012"  # moto's default account
OIDC_PROVIDER = "oidc.eks.us-east-1.amazonaws.com/id/SANDBOX"
ACCESS_KEY = SECRET_KEY = "testing"  # moto's dummy credentials, not secrets
PROFILE = "sandbox"
S3_OBJECT_ACTIONS = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
KMS_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
SERVICE_ACCOUNT = "system:serviceaccount:production:app-backend"
FAULTS = ("blackhole", "stall-object-reads", "access-denied", "expired-credentials")

_lock = threading.Lock()
_active: AwsServer | None = None  # moto's backends are process-global: one server at a time


class AwsServer:
    """moto on 127.0.0.1:<free port> with the media bucket, its KMS key, the app's role and alarms.

    moto keeps its state per process, so only one AwsServer may run in a process at a time; stop()
    resets moto's state. ``workdir`` receives ``aws-credentials`` and ``aws-config`` (profiles
    ``sandbox`` and ``default``, endpoint_url set) for AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        region: str = "us-east-1",
        bucket: str = "ytvideocreator-media",
        role_name: str = "eks-app-backend-role",
        role_policy_name: str = "S3Access",
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.region = region
        self.bucket = bucket
        self.role_name = role_name
        self.role_policy_name = role_policy_name
        self.role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{role_name}"
        self.oidc_provider_arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{OIDC_PROVIDER}"
        self.kms_alias = f"alias/{bucket}"
        self.kms_key_id = ""
        self.kms_key_arn = ""
        self.alarm_names = [f"{bucket}-4xx-errors", f"{bucket}-5xx-errors"]
        self.credentials_file = self.workdir / "aws-credentials"
        self.config_file = self.workdir / "aws-config"
        self.host = "127.0.0.1"
        self.port = 0
        self.fault: str | None = None  # one of FAULTS, or None
        self._released = threading.Event()  # ends a blackholed request (at stop)
        self._server = None
        self._thread: threading.Thread | None = None
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, object] = {}

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``: one endpoint for every service."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether start() succeeded and stop() has not run since."""
        return self._server is not None

    def client(self, service: str):  # noqa: ANN201 - boto3 clients are dynamically typed
        """An administrator's boto3 client for ``service`` against this endpoint (kept until stop)."""
        if service not in self._clients:
            if self._session is None:
                self._session = boto3.session.Session()
            from botocore.config import Config

            self._clients[service] = self._session.client(
                service, endpoint_url=self.endpoint_url, region_name=self.region,
                aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}),
            )
        return self._clients[service]

    def start(self) -> AwsServer:
        """Start moto, seed the key, bucket, role and alarms, and write the credentials and config files."""
        global _active
        with _lock:
            if _active is not None:
                raise RuntimeError("an AwsServer is already running in this process (moto state is global)")
            _active = self
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto 500s (SimulatePrincipalPolicy) are answers here
        atexit.register(self.stop)
        try:
            from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

            self.workdir.mkdir(parents=True, exist_ok=True)
            moto_app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(self.host, 0, _AwsLayer(self, moto_app), threaded=True,
                                       request_handler=MotoRequestHandler)
            self.port = self._server.server_address[1]
            # werkzeug polls for shutdown every 0.5 s by default: half a second of every sandbox stop.
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="moto", daemon=True)
            self._thread.start()
            self._seed()
            self._write_profiles()
        except BaseException:
            self.stop()
            raise
        return self

    def _seed(self) -> None:
        kms, s3, iam, cloudwatch = (self.client(n) for n in ("kms", "s3", "iam", "cloudwatch"))
        key = kms.create_key(
            Description=f"Encryption at rest for s3://{self.bucket}",
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
        )["KeyMetadata"]
        self.kms_key_id, self.kms_key_arn = key["KeyId"], key["Arn"]
        kms.put_key_policy(KeyId=self.kms_key_id, PolicyName="default", Policy=json.dumps(self.key_policy()))
        kms.create_alias(AliasName=self.kms_alias, TargetKeyId=self.kms_key_id)

        create = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        s3.create_bucket(**create)
        s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=self.bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": self.kms_key_arn,
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        s3.put_public_access_block(Bucket=self.bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCKED)
        s3.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(self.bucket_policy()))

        iam.create_open_id_connect_provider(Url=f"https://{OIDC_PROVIDER}", ClientIDList=["sts.amazonaws.com"],
                                            ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"])
        iam.create_role(
            RoleName=self.role_name,
            AssumeRolePolicyDocument=json.dumps(self.trust_policy()),
            Description="IRSA role of the app-backend service account",
        )
        iam.put_role_policy(
            RoleName=self.role_name,
            PolicyName=self.role_policy_name,
            PolicyDocument=json.dumps(self.role_policy()),
        )
        for name, metric in zip(self.alarm_names, ("4xxErrors", "5xxErrors")):
            cloudwatch.put_metric_alarm(
                AlarmName=name, AlarmDescription=f"S3 {metric} on s3://{self.bucket} (runbook Incident 4)",
                Namespace="AWS/S3", MetricName=metric, Statistic="Sum", Period=300, EvaluationPeriods=1,
                Threshold=10, ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
                Dimensions=[{"Name": "BucketName", "Value": self.bucket}, {"Name": "FilterId", "Value": "EntireBucket"}],
            )

    def bucket_policy(self) -> dict:
        """The bucket policy as seeded: the app role may put/get/delete objects and list the bucket.

        (No Deny with a Condition such as aws:SecureTransport: moto applies such a Deny always.)
        """
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AppBackendObjects",
                    "Effect": "Allow",
                    "Principal": {"AWS": self.role_arn},
                    "Action": S3_OBJECT_ACTIONS,
                    "Resource": f"arn:aws:s3:::{self.bucket}/*",
                },
                {
                    "Sid": "AppBackendList",
                    "Effect": "Allow",
                    "Principal": {"AWS": self.role_arn},
                    "Action": "s3:ListBucket",
                    "Resource": f"arn:aws:s3:::{self.bucket}",
                },
            ],
        }

    def trust_policy(self) -> dict:
        """The role's trust policy: IRSA for the app's service account, and the account's own
        principals (the suite's canary) when their IAM policy allows sts:AssumeRole on it."""
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AppBackendServiceAccount",
                    "Effect": "Allow",
                    "Principal": {"Federated": self.oidc_provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {f"{OIDC_PROVIDER}:sub": SERVICE_ACCOUNT,
                                                   f"{OIDC_PROVIDER}:aud": "sts.amazonaws.com"}},
                },
                {
                    "Sid": "RunbookChecksCanary",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                    "Action": "sts:AssumeRole",
                },
            ],
        }

    def role_policy(self) -> dict:
        """The inline role policy (S3Access): the object actions, ListBucket, and use of the KMS key."""
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "MediaObjects",
                    "Effect": "Allow",
                    "Action": S3_OBJECT_ACTIONS,
                    "Resource": f"arn:aws:s3:::{self.bucket}/*",
                },
                {
                    "Sid": "MediaList",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": f"arn:aws:s3:::{self.bucket}",
                },
                {"Sid": "MediaKey", "Effect": "Allow", "Action": KMS_ACTIONS, "Resource": self.kms_key_arn},
            ],
        }

    def key_policy(self) -> dict:
        """The KMS key policy: the account administers it (IAM delegation), the app role uses it via S3."""
        return {
            "Version": "2012-10-17",
            "Id": "media-key",
            "Statement": [
                {
                    "Sid": "EnableIAMUserPermissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "AppBackendUsesKeyViaS3",
                    "Effect": "Allow",
                    "Principal": {"AWS": self.role_arn},
                    "Action": KMS_ACTIONS,
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}},
                },
            ],
        }

    def _write_profiles(self) -> None:
        credentials = "".join(
            f"[{name}]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n\n"
            for name in (PROFILE, "default")
        )
        config = "".join(
            f"[{header}]\nregion = {self.region}\noutput = json\nendpoint_url = {self.endpoint_url}\n\n"
            for header in (f"profile {PROFILE}", "default")
        )
        self.credentials_file.write_text(credentials, encoding="utf-8")
        self.config_file.write_text(config, encoding="utf-8")
        self.credentials_file.chmod(0o600)

    def stop(self) -> None:
        """Reset moto's state, stop the server and release its socket. Idempotent."""
        global _active
        atexit.unregister(self.stop)
        self._released.set()
        server, self._server = self._server, None
        if server is not None:
            self.fault = None
            try:
                request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
                with urllib.request.urlopen(request, timeout=5):
                    pass
            except OSError:
                pass
            server.shutdown()
            server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        with _lock:
            if _active is self:
                _active = None

    def __enter__(self) -> AwsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


PUBLIC_ACCESS_BLOCKED = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                         "RestrictPublicBuckets": True}

_SERVICE_IN_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request")


class _AwsLayer:
    """WSGI layer in front of moto: AWS's behaviour where moto is lax, and the sandbox's AWS faults."""

    def __init__(self, server: AwsServer, app) -> None:
        self.server = server
        self.app = app

    def __call__(self, environ: dict, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api/"):
            return self.app(environ, start_response)
        fault = self.server.fault
        object_read = environ.get("REQUEST_METHOD") in ("GET", "HEAD") and len(path.strip("/").split("/", 1)) == 2
        if fault == "blackhole" or (fault == "stall-object-reads" and object_read):
            self.server._released.wait(timeout=300)  # never answers while the sandbox runs
            return _reply(start_response, 503, "text/plain", b"")
        match = _SERVICE_IN_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = match.group(1) if match else "s3"
        if fault == "expired-credentials":
            return _error(start_response, service, 400 if service in ("s3", "kms") else 403, "ExpiredToken"
                          if service != "kms" else "ExpiredTokenException", "The security token included in the request is expired")
        if fault == "access-denied" and not (service == "sts" and b"GetCallerIdentity" in _peek_body(environ)):
            return _error(start_response, service, 403, "AccessDenied" if service != "kms" else "AccessDeniedException",
                          f"User: arn:aws:iam::{ACCOUNT_ID}:user/moto is not authorized to perform this action")
        if service == "s3" and environ.get("REQUEST_METHOD") == "PUT":
            refusal = self._kms_refusal(environ, path)
            if refusal is not None:
                return _error(start_response, "s3", 400, *refusal)
        return self.app(environ, start_response)

    def _kms_refusal(self, environ: dict, path: str) -> tuple[str, str] | None:
        """What S3 answers an SSE-KMS upload whose key cannot be used (moto stores the object)."""
        if environ.get("HTTP_X_AMZ_SERVER_SIDE_ENCRYPTION") != "aws:kms" or path.count("/") < 2:
            return None
        key_id = environ.get("HTTP_X_AMZ_SERVER_SIDE_ENCRYPTION_AWS_KMS_KEY_ID") or self.server.kms_key_arn
        try:
            state = self.server.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
        except Exception:  # an unknown key: moto answers for itself
            return None
        if state == "Disabled":
            return "KMS.DisabledException", f"{key_id} is disabled."
        if state == "PendingDeletion":
            return "KMS.KMSInvalidStateException", f"{key_id} is pending deletion."
        return None


def _peek_body(environ: dict) -> bytes:
    """Read the request body and put it back for moto."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _reply(start_response, status: int, content_type: str, body: bytes):
    reason = {400: "Bad Request", 403: "Forbidden", 503: "Service Unavailable"}[status]
    start_response(f"{status} {reason}", [("Content-Type", content_type), ("Content-Length", str(len(body))),
                                          ("x-amzn-RequestId", uuid.uuid4().hex)])
    return [body]


def _error(start_response, service: str, status: int, code: str, message: str):
    """An AWS error in the wire protocol of ``service``."""
    if service == "kms":  # JSON 1.1
        body = json.dumps({"__type": code, "message": message}).encode()
        return _reply(start_response, status, "application/x-amz-json-1.1", body)
    if service == "s3":  # REST XML
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"<RequestId>{uuid.uuid4().hex[:16]}</RequestId></Error>").encode()
        return _reply(start_response, status, "application/xml", body)
    body = (f'<ErrorResponse xmlns="https://{service}.amazonaws.com/doc/"><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>").encode()  # query protocol
    return _reply(start_response, status, "text/xml", body)
