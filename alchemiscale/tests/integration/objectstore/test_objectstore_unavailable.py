"""An object store that cannot be reached raises ``ObjectStoreUnavailableError`` (503), quickly."""

from __future__ import annotations

import time

import pytest

from alchemiscale.errors import UnavailableError
from alchemiscale.storage.objectstore import LocalObjectStore, ObjectStoreError, ObjectStoreUnavailableError
from alchemiscale.storage.objectstore.s3 import S3ObjectStore
from alchemiscale.tests.integration.servers import free_port

LOCATION = "protocoldagresult/org/campaign/project/results/obj.json.zst"


def test_unreachable_s3_endpoint_is_unavailable():
    store = S3ObjectStore(
        "bucket", region="us-east-1", endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens
        access_key_id="key", secret_access_key="secret",
    )
    started = time.monotonic()
    with pytest.raises(ObjectStoreUnavailableError, match="could not write object") as caught:
        store._store_bytes(LOCATION, b"data")
    assert isinstance(caught.value, UnavailableError)
    assert time.monotonic() - started < 30  # bounded retries, not a hang


def test_s3_refusal_is_not_unavailability(s3_endpoint):
    """A 4xx answer (here: no such bucket) is the store's own error, not a 503."""
    store = S3ObjectStore("no-such-bucket-here", region="us-east-1", endpoint_url=s3_endpoint)
    with pytest.raises(ObjectStoreError) as caught:
        store._store_bytes(LOCATION, b"data")
    assert not isinstance(caught.value, UnavailableError)


def test_local_filesystem_failure_is_unavailable(tmp_path):
    store = LocalObjectStore(tmp_path / "root")
    store.initialize()
    (store.root / "protocoldagresult").write_text("a file where a folder must be")
    with pytest.raises(ObjectStoreUnavailableError, match="could not write object"):
        store._store_bytes(LOCATION, b"data")
