"""S3, IAM, KMS and STS on loopback (moto in server mode), seeded like production's media bucket."""

from __future__ import annotations

import atexit
import json
import logging
import threading
import urllib.request
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

ACCOUNT_ID = "123456789012"  # moto's default account
OIDC_PROVIDER = "oidc.eks.us-east-1.amazonaws.com/id/SANDBOX"
ACCESS_KEY = SECRET_KEY = "testing"  # moto's dummy credentials, not secrets
PROFILE = "sandbox"
S3_OBJECT_ACTIONS = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
KMS_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]

_lock = threading.Lock()
_active: AwsServer | None = None  # moto's backends are process-global: one server at a time


class AwsServer:
    """moto's ThreadedMotoServer on 127.0.0.1:<free port> with the media bucket, its KMS key and role.

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
        self.kms_alias = f"alias/{bucket}"
        self.kms_key_id = ""
        self.kms_key_arn = ""
        self.credentials_file = self.workdir / "aws-credentials"
        self.config_file = self.workdir / "aws-config"
        self.host = "127.0.0.1"
        self.port = 0
        self._server: ThreadedMotoServer | None = None
        self._session: boto3.session.Session | None = None

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``: one endpoint for every service."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether start() succeeded and stop() has not run since."""
        return self._server is not None

    def client(self, service: str):  # noqa: ANN201 - boto3 clients are dynamically typed
        """A boto3 client for ``service`` against this endpoint (close it when done)."""
        if self._session is None:
            self._session = boto3.session.Session()
        return self._session.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def start(self) -> AwsServer:
        """Start moto, seed the key, bucket and role, and write the credentials and config files."""
        global _active
        with _lock:
            if _active is not None:
                raise RuntimeError("an AwsServer is already running in this process (moto state is global)")
            _active = self
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        atexit.register(self.stop)
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._server = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
            self._server.start()
            self.port = self._server.get_host_and_port()[1]
            self._seed()
            self._write_profiles()
        except BaseException:
            self.stop()
            raise
        return self

    def _seed(self) -> None:
        kms, s3, iam = self.client("kms"), self.client("s3"), self.client("iam")
        try:
            key = kms.create_key(
                Description=f"Encryption at rest for s3://{self.bucket}",
                KeyUsage="ENCRYPT_DECRYPT",
                KeySpec="SYMMETRIC_DEFAULT",
            )["KeyMetadata"]
            self.kms_key_id, self.kms_key_arn = key["KeyId"], key["Arn"]
            kms.create_alias(AliasName=self.kms_alias, TargetKeyId=self.kms_key_id)

            create = {"Bucket": self.bucket}
            if self.region != "us-east-1":
                create["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            s3.create_bucket(**create)
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
            s3.put_public_access_block(
                Bucket=self.bucket,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
            s3.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(self.bucket_policy()))

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
        finally:
            for client in (kms, s3, iam):
                client.close()

    def bucket_policy(self) -> dict:
        """The bucket policy as seeded: the app role may put/get/delete objects and list the bucket."""
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
        """The role's trust policy: web identity federation from the cluster's OIDC provider."""
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{OIDC_PROVIDER}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                }
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
        server, self._server = self._server, None
        if server is not None:
            try:
                request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
                with urllib.request.urlopen(request, timeout=5):
                    pass
            except OSError:
                pass
            server.stop()
            # ThreadedMotoServer.stop() shuts the loop down but leaves the listening socket open.
            inner = getattr(server, "_server", None)
            if inner is not None:
                inner.server_close()
        with _lock:
            if _active is self:
                _active = None

    def __enter__(self) -> AwsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
