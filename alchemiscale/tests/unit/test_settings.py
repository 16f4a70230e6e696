import pytest
from pydantic import ValidationError

from alchemiscale.settings import (
    APISettings,
    ComputeAPISettings,
    JWTSettings,
    LocalObjectStoreSettings,
    Neo4jStoreSettings,
    ObjectStoreSettings,
    S3ObjectStoreSettings,
)


def test_neo4j_from_env(monkeypatch):
    monkeypatch.setenv("NEO4J_URL", "bolt://127.0.0.1:7687")
    monkeypatch.setenv("neo4j_user", "neo4j")  # names are case-insensitive
    monkeypatch.setenv("NEO4J_PASS", "s3cret-pass")
    settings = Neo4jStoreSettings()
    assert settings.NEO4J_DBNAME == "neo4j"
    assert settings.NEO4J_PASS.get_secret_value() == "s3cret-pass"
    assert "s3cret-pass" not in repr(settings)


def test_neo4j_missing_required(monkeypatch):
    for name in ("NEO4J_URL", "NEO4J_USER", "NEO4J_PASS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="NEO4J_URL"):
        Neo4jStoreSettings()


def test_s3(monkeypatch):
    monkeypatch.setenv("AWS_S3_BUCKET", "bucket")
    monkeypatch.setenv("AWS_S3_PREFIX", "objectstore")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    settings = S3ObjectStoreSettings()
    assert settings.AWS_ACCESS_KEY_ID is None
    assert settings.AWS_ENDPOINT_URL is None


def test_defaults(monkeypatch):
    for name in ("ALCHEMISCALE_API_PORT", "ALCHEMISCALE_COMPUTE_API_PORT", "ALCHEMISCALE_OBJECT_STORE"):
        monkeypatch.delenv(name, raising=False)
    api = APISettings()
    assert (api.ALCHEMISCALE_API_HOST, api.ALCHEMISCALE_API_PORT, api.ALCHEMISCALE_API_LOGLEVEL) == ("127.0.0.1", 80, "info")
    compute = ComputeAPISettings()
    assert compute.ALCHEMISCALE_COMPUTE_API_REGISTRATION_EXPIRE_SECONDS == 1800
    assert compute.ALCHEMISCALE_COMPUTE_API_FORGIVE_TIME_SECONDS == 600
    assert compute.ALCHEMISCALE_COMPUTE_API_MAX_FAILURES == 3
    assert compute.ALCHEMISCALE_COMPUTE_API_MANAGER_EXPIRE_SECONDS == 3600
    assert compute.ALCHEMISCALE_COMPUTE_API_MANAGER_EXPIRE_SECONDS_ERROR == 86400
    assert ObjectStoreSettings().ALCHEMISCALE_OBJECT_STORE == "s3"


def test_jwt(monkeypatch):
    monkeypatch.setenv("JWT_SECRET_KEY", "abc")
    monkeypatch.delenv("JWT_EXPIRE_SECONDS", raising=False)
    settings = JWTSettings()
    assert settings.JWT_EXPIRE_SECONDS == 1800 and settings.JWT_ALGORITHM == "HS256"
    monkeypatch.setenv("JWT_EXPIRE_SECONDS", "-1")
    with pytest.raises(ValidationError):
        JWTSettings()


def test_object_store_choice(monkeypatch, tmp_path):
    monkeypatch.setenv("ALCHEMISCALE_OBJECT_STORE", "local")
    monkeypatch.setenv("ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT", str(tmp_path))
    assert ObjectStoreSettings().ALCHEMISCALE_OBJECT_STORE == "local"
    assert LocalObjectStoreSettings().ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT == tmp_path
    monkeypatch.setenv("ALCHEMISCALE_OBJECT_STORE", "ftp")
    with pytest.raises(ValidationError):
        ObjectStoreSettings()


def test_frozen(monkeypatch):
    monkeypatch.setenv("JWT_SECRET_KEY", "abc")
    settings = JWTSettings()
    with pytest.raises(ValidationError):
        settings.JWT_ALGORITHM = "none"
