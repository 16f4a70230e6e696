"""One suite for every object store: S3 through moto's server, and a local folder."""

from __future__ import annotations

import multiprocessing
import os
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
import requests

from alchemiscale.serialization.compression import (
    ResultDecodeError,
    decompress_keyed_chain,
    deserialize_protocoldagresult,
    serialize_protocoldagresult,
    summarize_protocoldagresult,
)
from alchemiscale.models import Scope, ScopedKey
from alchemiscale.settings import (
    LocalObjectStoreSettings,
    ObjectStoreSettings,
    S3ObjectStoreSettings,
    get_local_objectstore_settings,
)
from alchemiscale.storage.models import ProtocolDAGResultRef
from alchemiscale.storage.objectstore import (
    LocalObjectStore,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
    S3ObjectStore,
    get_objectstore,
)
from alchemiscale.tests.protocols import FAILURE_MESSAGE

from . import workers


def push_result(
    store: ObjectStore, pdr, tf_sk: ScopedKey, creator: str = "compute-1"
) -> tuple[bytes, ProtocolDAGResultRef]:
    """Push a real ProtocolDAGResult the way the compute API does: summarize first, then store the bytes."""
    data = serialize_protocoldagresult(pdr)
    summary = summarize_protocoldagresult(decompress_keyed_chain(data))
    return data, store.push_protocoldagresult(data, summary["ok"], summary["key"], tf_sk, creator)


def fake_result_key(i: int) -> str:
    return f"ProtocolDAGResult-{i:032x}"


class TestProtocolDAGResults:
    def test_success_round_trip(self, objectstore, success_result, transformation_sk):
        data, ref = push_result(objectstore, success_result, transformation_sk)

        assert ref.ok is True
        assert ref.obj_key == str(success_result.key)
        assert ref.scope == transformation_sk.scope
        assert ref.creator == "compute-1"
        assert ref.location == (
            f"protocoldagresult/test_org/test_campaign/test_project/{transformation_sk.gufe_key}/results/"
            f"{success_result.key}/obj.json.zst"
        )
        pdr_sk = ScopedKey(gufe_key=ref.obj_key, **transformation_sk.scope.to_dict())
        pulled = objectstore.pull_protocoldagresult(pdr_sk, transformation_sk)
        assert pulled == data
        rebuilt = deserialize_protocoldagresult(pulled)
        assert rebuilt.key == success_result.key
        assert sorted(r.outputs.get("estimate", 0.0) for r in rebuilt.protocol_unit_results)[-1] == pytest.approx(2.1)

    def test_failure_round_trip(self, objectstore, failure_result, failing_transformation_sk):
        data, ref = push_result(objectstore, failure_result, failing_transformation_sk)
        summary = summarize_protocoldagresult(decompress_keyed_chain(data))

        assert ref.ok is False
        assert "/failures/" in ref.location and "/results/" not in ref.location
        assert summary["failures"] and FAILURE_MESSAGE in summary["failures"][0]["traceback"]
        pdr_sk = ScopedKey(gufe_key=ref.obj_key, **failing_transformation_sk.scope.to_dict())
        assert objectstore.pull_protocoldagresult(pdr_sk, failing_transformation_sk, ok=False) == data
        assert objectstore.pull_protocoldagresult(ref, failing_transformation_sk) == data
        with pytest.raises(ObjectNotFoundError):
            objectstore.pull_protocoldagresult(pdr_sk, failing_transformation_sk, ok=True)
        rebuilt = deserialize_protocoldagresult(data)
        assert [f.exception[0] for f in rebuilt.protocol_unit_failures] == ["RuntimeError"]

    def test_pull_by_ref_string_and_stored_location(self, objectstore, success_result, transformation_sk):
        data, ref = push_result(objectstore, success_result, transformation_sk)
        pdr_sk = ScopedKey(gufe_key=ref.obj_key, **transformation_sk.scope.to_dict())

        assert objectstore.pull_protocoldagresult(ref, transformation_sk) == data
        assert objectstore.pull_protocoldagresult(str(pdr_sk), transformation_sk) == data
        assert objectstore.pull_protocoldagresult(pdr_sk, transformation_sk, location=ref.location) == data
        assert objectstore.exists(ref.location)
        assert list(objectstore.iter_contents("protocoldagresult/")) == [ref.location]

    def test_same_result_pushed_twice_overwrites(self, objectstore, transformation_sk):
        objectstore.push_protocoldagresult(b"first", True, fake_result_key(1), transformation_sk)
        ref = objectstore.push_protocoldagresult(b"second", True, fake_result_key(1), transformation_sk)

        assert objectstore.pull_protocoldagresult(ref, transformation_sk) == b"second"
        assert list(objectstore.iter_contents()) == [ref.location]

    def test_missing_object(self, objectstore, transformation_sk):
        pdr_sk = ScopedKey(gufe_key=fake_result_key(7), **transformation_sk.scope.to_dict())
        with pytest.raises(ObjectNotFoundError, match="no object at"):
            objectstore.pull_protocoldagresult(pdr_sk, transformation_sk)
        ref = objectstore.push_protocoldagresult(b"x", True, fake_result_key(8), transformation_sk)
        objectstore.delete(ref.location)
        assert not objectstore.exists(ref.location)
        with pytest.raises(ObjectNotFoundError):
            objectstore.delete(ref.location)
        with pytest.raises(KeyError):  # ObjectNotFoundError is also a KeyError
            objectstore.pull_protocoldagresult(ref, transformation_sk)

    def test_corrupt_bytes_are_stored_untouched_and_rejected_on_decode(
        self, objectstore, success_result, transformation_sk
    ):
        good = serialize_protocoldagresult(success_result)
        for i, corrupt in enumerate([good[: len(good) // 2], b"\x28\xb5\x2f\xfd" + b"\x00" * 40, b"\xff\xfe junk"]):
            ref = objectstore.push_protocoldagresult(corrupt, True, fake_result_key(i), transformation_sk)
            pulled = objectstore.pull_protocoldagresult(ref, transformation_sk)
            assert pulled == corrupt
            with pytest.raises(ResultDecodeError):
                decompress_keyed_chain(pulled)

    def test_scope_mismatch(self, objectstore, transformation_sk):
        ref = objectstore.push_protocoldagresult(b"x", True, fake_result_key(1), transformation_sk)
        other_scope_tf = ScopedKey(gufe_key=transformation_sk.gufe_key, org="other_org", campaign="c", project="p")
        pdr_sk = ScopedKey(gufe_key=ref.obj_key, **transformation_sk.scope.to_dict())

        with pytest.raises(ValueError, match="does not match Transformation scope"):
            objectstore.pull_protocoldagresult(pdr_sk, other_scope_tf)
        with pytest.raises(ValueError, match="does not match Transformation scope"):
            objectstore.pull_protocoldagresult(ref, other_scope_tf)
        other_ref = ref.model_copy(update={"scope": other_scope_tf.scope})
        with pytest.raises(ValueError, match="outside the results of scope"):
            objectstore.pull_protocoldagresult(other_ref, other_scope_tf)

    def test_bad_keys_and_locations_rejected(self, objectstore, transformation_sk):
        with pytest.raises(ValueError, match="invalid gufe key"):
            objectstore.push_protocoldagresult(b"x", True, "../../etc/passwd", transformation_sk)
        with pytest.raises(TypeError, match="must be bytes"):
            objectstore.push_protocoldagresult("text", True, fake_result_key(1), transformation_sk)
        for location in ["../outside", "a/../../b", "/absolute", "a//b", "", ".hidden", "a\\b", "a/\x00"]:
            with pytest.raises(ValueError):
                objectstore.exists(location)
        with pytest.raises(ValueError):
            list(objectstore.iter_contents("../"))
        assert list(objectstore.iter_contents()) == []


class TestStoreOperations:
    def test_check_and_initialize_are_repeatable(self, objectstore):
        objectstore.initialize()
        objectstore.check()
        objectstore.check()
        assert list(objectstore.iter_contents()) == []  # the probe is gone

    def test_reset_empties_the_store(self, objectstore, transformation_sk):
        for i in range(3):
            objectstore.push_protocoldagresult(b"x", i % 2 == 0, fake_result_key(i), transformation_sk)
        assert len(list(objectstore.iter_contents())) == 3
        objectstore.reset()
        assert list(objectstore.iter_contents()) == []
        objectstore.check()

    def test_iter_contents_lists_1000_objects_across_pages(
        self, objectstore, transformation_sk, failing_transformation_sk
    ):
        def push(i: int) -> str:
            tf = transformation_sk if i % 4 else failing_transformation_sk
            return objectstore.push_protocoldagresult(b"%d" % i, i % 3 != 0, fake_result_key(i), tf).location

        with ThreadPoolExecutor(max_workers=8) as pool:
            locations = set(pool.map(push, range(1000)))

        listed = list(objectstore.iter_contents())
        assert len(listed) == 1000 and set(listed) == locations
        failing_prefix = (
            f"protocoldagresult/test_org/test_campaign/test_project/{failing_transformation_sk.gufe_key}/"
        )
        expected = {loc for loc in locations if loc.startswith(failing_prefix)}
        assert set(objectstore.iter_contents(failing_prefix)) == expected
        assert len(list(objectstore.iter_contents(failing_prefix))) == 250
        assert list(objectstore.iter_contents("protocoldagresult/nobody/")) == []

    def test_concurrent_writers_threads(self, objectstore, transformation_sk):
        barrier = threading.Barrier(8)

        def writer(n: int) -> list[ProtocolDAGResultRef]:
            barrier.wait()
            refs = []
            for round_ in range(10):
                shared = objectstore.push_protocoldagresult(
                    workers.payload(n)[:4096], True, workers.SHARED_RESULT_KEY, transformation_sk
                )
                refs.append(
                    objectstore.push_protocoldagresult(
                        workers.payload(n)[:4096], True, workers.own_result_key(n, round_), transformation_sk
                    )
                )
            return refs + [shared]

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(writer, range(8)))

        for n, refs in enumerate(results):
            for ref in refs[:-1]:
                assert objectstore.pull_protocoldagresult(ref, transformation_sk) == workers.payload(n)[:4096]
        shared = objectstore.pull_protocoldagresult(results[0][-1], transformation_sk)
        assert len(shared) == 4096 and len(set(shared)) == 1  # one writer's whole payload
        assert len(list(objectstore.iter_contents())) == 8 * 10 + 1

    def test_presigned_url(self, objectstore, transformation_sk):
        ref = objectstore.push_protocoldagresult(b"\x00zstd bytes\xff", True, fake_result_key(1), transformation_sk)
        with pytest.raises(ValueError, match="expires_seconds"):
            objectstore.presigned_url(ref.location, expires_seconds=0)
        if isinstance(objectstore, LocalObjectStore):
            with pytest.raises(NotImplementedError, match="presigned URLs"):
                objectstore.presigned_url(ref.location)
            return
        url = objectstore.presigned_url(ref.location, expires_seconds=60)
        response = requests.get(url, timeout=10)
        assert response.status_code == 200
        assert response.content == b"\x00zstd bytes\xff"
        assert "Signature" in url or "X-Amz-Signature" in url


class TestS3Only:
    def test_check_reports_missing_bucket(self, s3_endpoint):
        store = S3ObjectStore(f"missing-{uuid.uuid4().hex[:12]}", "objectstore", region="us-east-1")
        with pytest.raises(ObjectStoreError, match="could not list objects: NoSuchBucket"):
            store.check()

    def test_explicit_credentials_and_endpoint_from_settings(self, s3_endpoint, monkeypatch):
        monkeypatch.delenv("AWS_ENDPOINT_URL")
        settings = S3ObjectStoreSettings(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_S3_BUCKET=f"explicit-{uuid.uuid4().hex[:12]}",
            AWS_S3_PREFIX="/nested/prefix/",
            AWS_DEFAULT_REGION="eu-west-1",
            AWS_ENDPOINT_URL=s3_endpoint,
        )
        store = get_objectstore(settings)
        assert isinstance(store, S3ObjectStore) and store.prefix == "nested/prefix"
        store.initialize()
        store.check()
        tf_sk = ScopedKey(gufe_key="Transformation-abc", org="o", campaign="c", project="p")
        ref = store.push_protocoldagresult(b"data", True, fake_result_key(1), tf_sk)
        assert list(store.iter_contents()) == [ref.location]
        store.reset()
        assert list(store.iter_contents()) == []


class TestLocalOnly:
    def test_symlink_escaping_root_is_refused(self, tmp_path, transformation_sk):
        store = LocalObjectStore(tmp_path / "root")
        store.initialize()
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "secret").write_bytes(b"secret")
        os.symlink(outside, tmp_path / "root" / "protocoldagresult")

        with pytest.raises(ValueError, match="outside the object store root"):
            store.exists("protocoldagresult/secret")
        with pytest.raises(ValueError, match="outside the object store root"):
            store.push_protocoldagresult(b"x", True, fake_result_key(1), transformation_sk)
        assert list(outside.iterdir()) == [outside / "secret"]

    def test_check_reports_unusable_root(self, tmp_path):
        not_a_folder = tmp_path / "file"
        not_a_folder.write_bytes(b"")
        with pytest.raises(ObjectStoreError, match="is not a folder"):
            LocalObjectStore(not_a_folder).check()

    def test_concurrent_writer_processes_never_expose_partial_objects(self, tmp_path, transformation_sk):
        store = LocalObjectStore(tmp_path / "root")
        store.initialize()
        shared = store.push_protocoldagresult(workers.payload(0), True, workers.SHARED_RESULT_KEY, transformation_sk)
        n_writers, rounds = 8, 15
        stop = threading.Event()
        torn: list[int] = []
        reads = 0

        def read_continuously():
            nonlocal reads
            while not stop.is_set():
                data = store.pull_protocoldagresult(shared, transformation_sk)
                reads += 1
                if len(data) != workers.PAYLOAD_SIZE or len(set(data)) != 1:
                    torn.append(len(data))

        reader = threading.Thread(target=read_continuously)
        reader.start()
        try:
            with ProcessPoolExecutor(n_writers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [
                    pool.submit(workers.push_repeatedly, str(store.root), str(transformation_sk), n, rounds)
                    for n in range(1, n_writers + 1)
                ]
                assert sorted(f.result() for f in futures) == list(range(1, n_writers + 1))
        finally:
            stop.set()
            reader.join()

        assert torn == [] and reads > 0
        assert len(list(store.iter_contents())) == n_writers * rounds + 1
        leftovers = [name for _, _, files in os.walk(store.root) for name in files if name.startswith(".")]
        assert leftovers == []


def test_get_objectstore_chooses_backend_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT", str(tmp_path / "env-root"))
    get_local_objectstore_settings.cache_clear()
    try:
        store = get_objectstore(ObjectStoreSettings(ALCHEMISCALE_OBJECT_STORE="local"))
    finally:
        get_local_objectstore_settings.cache_clear()
    assert isinstance(store, LocalObjectStore)
    assert store.root == (tmp_path / "env-root").resolve()
    direct = get_objectstore(LocalObjectStoreSettings(ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT=tmp_path))
    assert isinstance(direct, LocalObjectStore) and direct.root == tmp_path.resolve()
    with pytest.raises(TypeError, match="expected object store settings"):
        get_objectstore(Scope("a", "b", "c"))
