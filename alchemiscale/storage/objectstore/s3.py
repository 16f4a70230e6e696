"""Object store on S3 or any S3-compatible service (boto3).

Objects live at ``{prefix}/{location}`` in one bucket. Credentials come from the settings when
given, else from boto3's default chain (environment, config files, instance role). The endpoint
comes from the settings or ``AWS_ENDPOINT_URL``. A boto3 client (thread-safe) is shared by all
operations, so one store can serve many request threads.
"""

from __future__ import annotations

import uuid
from typing import Iterator, Optional

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from ...errors import InvalidInputError
from ...settings import S3ObjectStoreSettings
from .base import (
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailableError,
    validate_expiry,
    validate_location,
    validate_prefix,
)

_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
_UNAVAILABLE_CODES = {"SlowDown", "ServiceUnavailable", "RequestTimeout", "Throttling", "ThrottlingException"}
# bounded waits, so an unreachable endpoint gives a 503 in seconds rather than a hung request
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60
MAX_ATTEMPTS = 3
_CHECK_PROBE = "_check"


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _means_unavailable(error: Exception) -> bool:
    """Whether S3 could not be reached, timed out, or said it is overloaded or failing (5xx)."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or _error_code(error) in _UNAVAILABLE_CODES
    return isinstance(error, BotoConnectionError)


def _describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'error')}: {details.get('Message', '')}".rstrip(": ")
    return f"{type(error).__name__}: {error}"


class S3ObjectStore(ObjectStore):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        region: Optional[str] = None,
        endpoint_url: Optional[str] = None,
        access_key_id: Optional[str] = None,
        secret_access_key: Optional[str] = None,
        session_token: Optional[str] = None,
    ):
        if not isinstance(bucket, str) or not bucket:
            raise InvalidInputError("S3 bucket name must be a non-empty string")
        prefix = prefix.strip("/")
        if prefix:
            validate_location(prefix)
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            region_name=region,
        )
        config = Config(
            retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
            max_pool_connections=32,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
        )
        self._client = session.client("s3", endpoint_url=endpoint_url, config=config)

    @classmethod
    def from_settings(cls, settings: S3ObjectStoreSettings) -> "S3ObjectStore":
        def secret(value) -> Optional[str]:
            return value.get_secret_value() if value is not None else None

        return cls(
            settings.AWS_S3_BUCKET,
            settings.AWS_S3_PREFIX,
            region=settings.AWS_DEFAULT_REGION,
            endpoint_url=settings.AWS_ENDPOINT_URL,
            access_key_id=secret(settings.AWS_ACCESS_KEY_ID),
            secret_access_key=secret(settings.AWS_SECRET_ACCESS_KEY),
            session_token=secret(settings.AWS_SESSION_TOKEN),
        )

    def __repr__(self) -> str:
        return f"<S3ObjectStore(bucket={self.bucket!r}, prefix={self.prefix!r})>"

    def _key(self, location: str) -> str:
        validate_location(location)
        return f"{self.prefix}/{location}" if self.prefix else location

    def _location(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def _fail(self, action: str, error: Exception) -> ObjectStoreError:
        error_class = ObjectStoreUnavailableError if _means_unavailable(error) else ObjectStoreError
        return error_class(f"S3 object store (bucket {self.bucket!r}): could not {action}: {_describe(error)}")

    def initialize(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as e:
            if _error_code(e) not in _MISSING_CODES | {"NoSuchBucket"}:
                raise self._fail("look up the bucket", e) from e
        except BotoCoreError as e:
            raise self._fail("look up the bucket", e) from e
        params: dict = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._client.create_bucket(**params)
        except ClientError as e:
            if _error_code(e) not in ("BucketAlreadyOwnedByYou",):
                raise self._fail("create the bucket", e) from e
        except BotoCoreError as e:
            raise self._fail("create the bucket", e) from e
        self._client.get_waiter("bucket_exists").wait(Bucket=self.bucket)

    def reset(self) -> None:
        """Delete every object under this store's prefix; the bucket itself (and other prefixes) stay."""
        try:
            batch: list[dict] = []
            for key in self._iter_keys(self.prefix + "/" if self.prefix else ""):
                batch.append({"Key": key})
                if len(batch) == 1000:  # the most one DeleteObjects call takes
                    self._delete_batch(batch)
                    batch = []
            if batch:
                self._delete_batch(batch)
        except (ClientError, BotoCoreError) as e:
            raise self._fail("delete objects during reset", e) from e

    def _delete_batch(self, batch: list[dict]) -> None:
        response = self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        if response.get("Errors"):
            first = response["Errors"][0]
            raise ObjectStoreError(
                f"S3 object store (bucket {self.bucket!r}): could not delete {len(response['Errors'])} object(s) "
                f"during reset, e.g. {first.get('Key')!r}: {first.get('Code')}"
            )

    def check(self) -> None:
        try:
            self._client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except (ClientError, BotoCoreError) as e:
            raise self._fail("list objects", e) from e
        probe = f"{_CHECK_PROBE}/{uuid.uuid4().hex}"
        payload = uuid.uuid4().bytes
        try:
            self._store_bytes(probe, payload)
        except ObjectStoreError as e:
            raise ObjectStoreError(f"S3 object store check failed writing a probe object: {e}") from e
        try:
            read_back = self._get_bytes(probe)
        except ObjectStoreError as e:
            raise ObjectStoreError(f"S3 object store check failed reading back probe object {probe!r}: {e}") from e
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(probe))
        except (ClientError, BotoCoreError) as e:
            raise self._fail(f"delete probe object {probe!r}", e) from e
        if read_back != payload:
            raise ObjectStoreError(f"S3 object store check failed: probe object {probe!r} read back different bytes")

    def _store_bytes(self, location: str, data: bytes) -> None:
        key = self._key(location)
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data)
        except (ClientError, BotoCoreError) as e:
            raise self._fail(f"write object {key!r}", e) from e

    def _get_bytes(self, location: str) -> bytes:
        key = self._key(location)
        try:
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as e:
            if _error_code(e) in _MISSING_CODES:
                raise ObjectNotFoundError(f"no object at {location!r} in S3 bucket {self.bucket!r}") from None
            raise self._fail(f"read object {key!r}", e) from e
        except BotoCoreError as e:
            raise self._fail(f"read object {key!r}", e) from e

    def _iter_keys(self, key_prefix: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key_prefix):
            for item in page.get("Contents", []):
                yield item["Key"]

    def iter_contents(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        key_prefix = f"{self.prefix}/{prefix}" if self.prefix else prefix
        try:
            for key in self._iter_keys(key_prefix):
                yield self._location(key)
        except (ClientError, BotoCoreError) as e:
            raise self._fail(f"list objects under {key_prefix!r}", e) from e

    def exists(self, location: str) -> bool:
        key = self._key(location)
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as e:
            if _error_code(e) in _MISSING_CODES:
                return False
            raise self._fail(f"look up object {key!r}", e) from e
        except BotoCoreError as e:
            raise self._fail(f"look up object {key!r}", e) from e

    def delete(self, location: str) -> None:
        if not self.exists(location):  # S3 deletes of missing keys succeed silently
            raise ObjectNotFoundError(f"no object at {location!r} in S3 bucket {self.bucket!r}")
        key = self._key(location)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as e:
            raise self._fail(f"delete object {key!r}", e) from e

    def presigned_url(self, location: str, expires_seconds: int = 300) -> str:
        key = self._key(location)
        validate_expiry(expires_seconds)
        try:
            return self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_seconds
            )
        except (ClientError, BotoCoreError) as e:
            raise self._fail(f"presign object {key!r}", e) from e
