"""Server-side settings, read from the environment (names are case-insensitive).

Each class covers one concern so that a process only needs the variables it actually uses; the
``get_*`` helpers cache one instance per process.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class FrozenSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, case_sensitive=False, extra="ignore")


class Neo4jStoreSettings(FrozenSettings):
    """Connection to the Neo4j state store."""

    NEO4J_URL: str = Field(description="Neo4j Bolt URL, e.g. bolt://127.0.0.1:7687.")
    NEO4J_DBNAME: str = Field(default="neo4j", description="Neo4j database name.")
    NEO4J_USER: str = Field(description="Neo4j user name.")
    NEO4J_PASS: SecretStr = Field(description="Neo4j password.")
    # Bounds that turn a Neo4j outage into a quick 503 rather than a hang (see docs/operations.rst).
    NEO4J_CONNECTION_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0)
    NEO4J_CONNECTION_ACQUISITION_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0)
    NEO4J_MAX_TRANSACTION_RETRY_SECONDS: float = Field(default=5.0, ge=0)
    NEO4J_TRANSACTION_TIMEOUT_SECONDS: float = Field(default=300.0, gt=0)


class ObjectStoreSettings(FrozenSettings):
    """Which object store backend holds ProtocolDAGResults: ``s3`` or ``local`` (filesystem)."""

    ALCHEMISCALE_OBJECT_STORE: Literal["s3", "local"] = Field(
        default="s3", description="Where results are kept: an S3 bucket or a local folder."
    )


class S3ObjectStoreSettings(FrozenSettings):
    """An S3 bucket; leave the credentials unset to use the default AWS chain (e.g. an IAM role)."""

    AWS_ACCESS_KEY_ID: Optional[SecretStr] = Field(
        default=None, description="S3 access key id (default AWS chain if unset)."
    )
    AWS_SECRET_ACCESS_KEY: Optional[SecretStr] = Field(default=None, description="S3 secret access key.")
    AWS_SESSION_TOKEN: Optional[SecretStr] = Field(default=None, description="S3 session token.")
    AWS_S3_BUCKET: str = Field(description="S3 bucket name.")
    AWS_S3_PREFIX: str = Field(description="Key prefix inside the bucket.")
    AWS_DEFAULT_REGION: str = Field(description="S3 region.")
    AWS_ENDPOINT_URL: Optional[str] = Field(default=None, description="Endpoint of an S3-compatible service.")


class LocalObjectStoreSettings(FrozenSettings):
    """A folder on a filesystem shared by every API process of a single-host deployment."""

    ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT: Path = Field(description="Folder holding results of the local object store.")


class JWTSettings(FrozenSettings):
    """Signing of access tokens."""

    JWT_SECRET_KEY: SecretStr = Field(
        description="Secret that signs access tokens; every replica of an API must share it."
    )
    JWT_EXPIRE_SECONDS: int = Field(default=1800, gt=0, description="Lifetime of an access token, in seconds.")
    JWT_ALGORITHM: str = Field(default="HS256", description="JWT signing algorithm.")


class BodyLimitSettings(FrozenSettings):
    """Caps on what one request may carry, enforced before any route runs (see ``base/body.py``).

    Defaults fit networks of 10^4 Transformations (tens of MB of keyed-chain JSON) and results of
    several hundred MB; raise them only with memory to match, as a worker holds a whole body.
    """

    ALCHEMISCALE_MAX_BODY_BYTES: int = Field(default=1024**3, gt=0)  # as received, gzipped or not
    ALCHEMISCALE_MAX_EXPANDED_BODY_BYTES: int = Field(default=1024**3, gt=0)  # after gunzip
    ALCHEMISCALE_MAX_LOGIN_BODY_BYTES: int = Field(default=64 * 1024, gt=0)  # POST /token, which needs no token
    ALCHEMISCALE_MAX_QUERY_VALUE_LENGTH: int = Field(default=1024, gt=0)  # characters per query parameter


class APISettings(FrozenSettings):
    """Where the user API listens (``alchemiscale api``)."""

    ALCHEMISCALE_API_HOST: str = Field(default="127.0.0.1", description="Address to bind.")
    ALCHEMISCALE_API_PORT: int = Field(default=80, ge=0, le=65535, description="Port to bind.")
    ALCHEMISCALE_API_LOGLEVEL: str = Field(default="info", description="Log level.")


class ComputeAPISettings(FrozenSettings):
    """Where the compute API listens (``alchemiscale compute api``) and how it treats compute services."""

    ALCHEMISCALE_COMPUTE_API_HOST: str = Field(default="127.0.0.1", description="Address to bind.")
    ALCHEMISCALE_COMPUTE_API_PORT: int = Field(default=80, ge=0, le=65535, description="Port to bind.")
    ALCHEMISCALE_COMPUTE_API_LOGLEVEL: str = Field(default="info", description="Log level.")
    ALCHEMISCALE_COMPUTE_API_REGISTRATION_EXPIRE_SECONDS: int = Field(
        default=1800, gt=0, description="Compute services silent for longer than this many seconds are expired."
    )
    ALCHEMISCALE_COMPUTE_API_FORGIVE_TIME_SECONDS: int = Field(default=600, ge=0)
    ALCHEMISCALE_COMPUTE_API_MAX_FAILURES: int = Field(default=3, ge=0)
    ALCHEMISCALE_COMPUTE_API_MANAGER_EXPIRE_SECONDS: int = Field(default=3600, gt=0)
    ALCHEMISCALE_COMPUTE_API_MANAGER_EXPIRE_SECONDS_ERROR: int = Field(default=86400, gt=0)


class IdempotencySettings(FrozenSettings):
    """How the APIs remember answers to POSTs carrying an ``Idempotency-Key`` (see ``base/idempotency.py``)."""

    ALCHEMISCALE_IDEMPOTENCY_EXPIRE_SECONDS: int = Field(default=86400, gt=0)
    ALCHEMISCALE_IDEMPOTENCY_WAIT_SECONDS: float = Field(default=30.0, ge=0)
    ALCHEMISCALE_IDEMPOTENCY_LEASE_SECONDS: int = Field(default=600, gt=0)
    ALCHEMISCALE_IDEMPOTENCY_MAX_RESPONSE_BYTES: int = Field(default=8 * 1024**2, gt=0)


class MetricsSettings(FrozenSettings):
    """``GET /metrics`` (see ``base/metrics.py``): open unless a token is set; store gauges cached this long."""

    ALCHEMISCALE_METRICS_TOKEN: Optional[SecretStr] = None
    ALCHEMISCALE_METRICS_CACHE_SECONDS: float = Field(default=10.0, ge=0)


class LoggingSettings(FrozenSettings):
    """Log line format of the APIs (see ``base/logs.py``); unset, the server's own logging is kept."""

    ALCHEMISCALE_LOG_FORMAT: Optional[Literal["text", "json"]] = Field(
        default=None, description="Log lines as text or as one JSON object each."
    )


@lru_cache
def get_neo4jstore_settings() -> Neo4jStoreSettings:
    return Neo4jStoreSettings()


@lru_cache
def get_objectstore_settings() -> ObjectStoreSettings:
    return ObjectStoreSettings()


@lru_cache
def get_s3objectstore_settings() -> S3ObjectStoreSettings:
    return S3ObjectStoreSettings()


@lru_cache
def get_local_objectstore_settings() -> LocalObjectStoreSettings:
    return LocalObjectStoreSettings()


@lru_cache
def get_jwt_settings() -> JWTSettings:
    return JWTSettings()


@lru_cache
def get_body_limit_settings() -> BodyLimitSettings:
    return BodyLimitSettings()


@lru_cache
def get_api_settings() -> APISettings:
    return APISettings()


@lru_cache
def get_compute_api_settings() -> ComputeAPISettings:
    return ComputeAPISettings()


@lru_cache
def get_idempotency_settings() -> IdempotencySettings:
    return IdempotencySettings()


@lru_cache
def get_metrics_settings() -> MetricsSettings:
    return MetricsSettings()


@lru_cache
def get_logging_settings() -> LoggingSettings:
    return LoggingSettings()
