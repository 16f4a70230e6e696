"""Object stores of both kinds behind one fixture, and real ProtocolDAGResults to store in them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from gufe.protocols import ProtocolDAGResult

from alchemiscale.models import Scope, ScopedKey
from alchemiscale.settings import LocalObjectStoreSettings, S3ObjectStoreSettings
from alchemiscale.storage.objectstore import ObjectStore, get_objectstore
from alchemiscale.tests.protocols import execute_locally

S3_PREFIX = "objectstore"


def run_transformation(transformation, workdir: Path) -> ProtocolDAGResult:
    """Execute the Transformation's ProtocolDAG in process, as a compute service would."""
    return execute_locally(transformation.create(), workdir)


@pytest.fixture(scope="session")
def success_result(transformation, tmp_path_factory) -> ProtocolDAGResult:
    return run_transformation(transformation, tmp_path_factory.mktemp("success"))


@pytest.fixture(scope="session")
def failure_result(failing_transformation, tmp_path_factory) -> ProtocolDAGResult:
    return run_transformation(failing_transformation, tmp_path_factory.mktemp("failure"))


@pytest.fixture
def transformation_sk(transformation, scope_test: Scope) -> ScopedKey:
    return ScopedKey(gufe_key=str(transformation.key), **scope_test.to_dict())


@pytest.fixture
def failing_transformation_sk(failing_transformation, scope_test: Scope) -> ScopedKey:
    return ScopedKey(gufe_key=str(failing_transformation.key), **scope_test.to_dict())


@pytest.fixture(params=["s3", "local"])
def objectstore(request, tmp_path: Path) -> Iterator[ObjectStore]:
    """An empty, initialized store: S3 in a fresh bucket on the moto server, or a fresh folder."""
    if request.param == "s3":
        request.getfixturevalue("s3_endpoint")  # AWS_ENDPOINT_URL and credentials come from the environment
        settings = S3ObjectStoreSettings(
            AWS_S3_BUCKET=f"test-{uuid.uuid4().hex[:16]}", AWS_S3_PREFIX=S3_PREFIX, AWS_DEFAULT_REGION="us-east-1"
        )
    else:
        settings = LocalObjectStoreSettings(ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT=tmp_path / "objects")
    store = get_objectstore(settings)
    store.initialize()
    try:
        yield store
    finally:
        store.reset()
