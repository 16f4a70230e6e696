"""Serialization of ProtocolDAGResults: zstd keyed chains, strict decoding, and gufe-free summaries."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import zstandard
from gufe.protocols import ProtocolDAGResult, ProtocolUnitFailure

from alchemiscale.serialization.compression import (
    ResultDecodeError,
    bytes_to_latin1,
    canonical_result,
    compress_keyed_chain,
    decompress_keyed_chain,
    deserialize_protocoldagresult,
    gufe_bytes_value,
    latin1_to_bytes,
    serialize_protocoldagresult,
    summarize_protocoldagresult,
)
from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
from alchemiscale.tests.protocols import FAILURE_MESSAGE, execute_locally


@pytest.fixture(scope="module")
def success_result(transformation, tmp_path_factory) -> ProtocolDAGResult:
    return execute_locally(transformation.create(), tmp_path_factory.mktemp("success"))


@pytest.fixture(scope="module")
def failure_result(failing_transformation, tmp_path_factory) -> ProtocolDAGResult:
    return execute_locally(failing_transformation.create(), tmp_path_factory.mktemp("failure"))


def test_round_trip_of_real_results(success_result, failure_result):
    for pdr in (success_result, failure_result):
        data = serialize_protocoldagresult(pdr)
        assert data.startswith(b"\x28\xb5\x2f\xfd")  # zstd frame
        rebuilt = deserialize_protocoldagresult(data)
        assert rebuilt.key == pdr.key
        assert [r.key for r in rebuilt.protocol_unit_results] == [r.key for r in pdr.protocol_unit_results]


def test_summary_of_success(success_result, transformation):
    summary = summarize_protocoldagresult(to_keyed_chain_json(success_result))
    assert summary == {
        "key": str(success_result.key),
        "ok": True,
        "transformation_key": str(transformation.key),
        "failures": [],
        "n_units": 4,
        "n_results": 4,
    }


def test_summary_of_failure_finds_traceback(failure_result, failing_transformation):
    summary = summarize_protocoldagresult(to_keyed_chain_json(failure_result))
    assert summary["ok"] is False
    assert summary["transformation_key"] == str(failing_transformation.key)
    [failure] = summary["failures"]
    expected = failure_result.protocol_unit_failures[0]
    assert failure["failure_key"] == str(expected.key)
    assert failure["source_key"] == str(expected.source_key)
    assert FAILURE_MESSAGE in failure["traceback"]
    assert failure["exception"][0] == "RuntimeError"


def test_summary_agrees_with_gufe_ok_on_failures(success_result, transformation):
    """A unit whose only result is a failure makes the DAG failed, for gufe and for the server alike."""
    unit = success_result.protocol_units[0]
    failure = ProtocolUnitFailure(
        name=unit.name, source_key=unit.key, inputs={}, outputs={},
        exception=("RuntimeError", ("late failure",)), traceback="Traceback: late failure",
    )
    pdr = ProtocolDAGResult(
        name="Task-1", protocol_units=[unit], protocol_unit_results=[failure], transformation_key=transformation.key
    )
    summary = summarize_protocoldagresult(to_keyed_chain_json(pdr))
    assert summary["ok"] is pdr.ok() is False
    assert summary["transformation_key"] == str(transformation.key)  # gufe's label, not the name
    assert summary["failures"][0]["traceback"] == "Traceback: late failure"
    unlabelled = ProtocolDAGResult(
        name="not a transformation", protocol_units=[unit], protocol_unit_results=[failure], transformation_key=None
    )
    assert summarize_protocoldagresult(to_keyed_chain_json(unlabelled))["transformation_key"] is None


def test_summary_rejects_other_objects(transformation):
    with pytest.raises(ResultDecodeError, match="not a 'ProtocolDAGResult'"):
        summarize_protocoldagresult(to_keyed_chain_json(transformation))
    with pytest.raises(ResultDecodeError, match="not a keyed chain"):
        summarize_protocoldagresult({"not": "a chain"})
    chain = [["ProtocolDAGResult-abc", {"__qualname__": "ProtocolDAGResult", "__module__": "m", "protocol_units": 3}]]
    with pytest.raises(ResultDecodeError, match="'protocol_units' must be a list of references"):
        summarize_protocoldagresult(chain)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        ("text", "must be bytes"),
        (b"\x28\xb5\x2f\xfd\x00\x00", "corrupt"),
        (b"\xff\xfe\x00", "neither zstd-compressed nor UTF-8"),
        (b"[1, 2", "not valid JSON"),
        (b'{"a": 1}', "not a keyed chain"),
        (zstandard.ZstdCompressor().compress(b'[["NoSeparator", {}]]'), "not a keyed chain"),
    ],
)
def test_decode_errors_are_clear(data, message):
    with pytest.raises(ResultDecodeError, match=message):
        decompress_keyed_chain(data)


def test_truncated_and_oversized_data(success_result):
    data = serialize_protocoldagresult(success_result)
    for cut in (len(data) // 2, len(data) - 1):
        with pytest.raises(ResultDecodeError, match="corrupt or truncated"):
            decompress_keyed_chain(data[:cut])
    with pytest.raises(ResultDecodeError, match="the limit is 100"):
        decompress_keyed_chain(data, max_size=100)
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(b"[" + b" " * 10_000 + b"]")
    with pytest.raises(ResultDecodeError, match="corrupt or truncated"):
        decompress_keyed_chain(unsized, max_size=100)


def test_legacy_uncompressed_json_is_accepted(success_result):
    chain = to_keyed_chain_json(success_result)
    legacy = json.dumps(chain).encode("utf-8")
    assert decompress_keyed_chain(legacy)[-1][0] == str(success_result.key)
    assert deserialize_protocoldagresult(legacy).key == success_result.key


def test_gufe_encoded_result_bytes_become_the_stored_form(success_result):
    """gufe's JSON encoding of bytes (as upstream uploads results) unwraps to the bytes our clients send."""
    from gufe.tokenization import JSON_HANDLER

    data = serialize_protocoldagresult(success_result)
    codec = json.loads(json.dumps(data, cls=JSON_HANDLER.encoder))
    assert codec["__class__"] == "bytes" and not latin1_to_bytes(codec["latin-1"]).startswith(data)
    assert gufe_bytes_value(codec["latin-1"]) == data
    # gufe before 1.2 held the bytes uncompressed; gufe's decoder (and so this) decompresses whatever is zstd
    assert gufe_bytes_value(bytes_to_latin1(data)) == zstandard.ZstdDecompressor().decompress(data)
    stored, summary = canonical_result(data)
    assert stored == data and summary["key"] == str(success_result.key) and summary["ok"]
    legacy = json.dumps(to_keyed_chain_json(success_result)).encode("utf-8")
    stored, _ = canonical_result(legacy)
    assert stored.startswith(b"\x28\xb5\x2f\xfd") and decompress_keyed_chain(stored)[-1][0] == str(success_result.key)
    # both layers keep the decompressed-size limit
    with pytest.raises(ResultDecodeError, match="the limit is 100"):
        gufe_bytes_value(codec["latin-1"], max_size=100)
    with pytest.raises(ResultDecodeError, match="the limit is 100"):
        canonical_result(data, max_size=100)
    with pytest.raises(ResultDecodeError, match="the limit is 100"):
        canonical_result(legacy, max_size=100)


def test_compress_rejects_non_chain():
    with pytest.raises(TypeError, match="list of"):
        compress_keyed_chain({"a": 1})


def test_deserialize_rejects_other_gufe_objects(transformation):
    data = compress_keyed_chain(to_keyed_chain_json(transformation))
    with pytest.raises(ResultDecodeError, match="not a ProtocolDAGResult"):
        deserialize_protocoldagresult(data)


def test_latin1_wire_format_round_trips_every_byte():
    data = bytes(range(256)) * 3
    text = bytes_to_latin1(data)
    assert isinstance(text, str) and len(text) == len(data)
    assert latin1_to_bytes(json.loads(json.dumps(text))) == data
    with pytest.raises(ResultDecodeError, match="above U\\+00FF"):
        latin1_to_bytes("ok\u20ac")


def test_server_side_functions_do_not_import_gufe():
    code = (
        "import sys, alchemiscale.serialization.compression as c\n"
        "c.summarize_protocoldagresult(c.decompress_keyed_chain(sys.stdin.buffer.read()))\n"
        "assert 'gufe' not in sys.modules, 'gufe was imported'\n"
    )
    chain = [
        ["ProtocolUnitResult-r1", {"__qualname__": "ProtocolUnitResult", "__module__": "m", "source_key": "U-u1"}],
        ["U-u1", {"__qualname__": "U", "__module__": "m"}],
        [
            "ProtocolDAGResult-p1",
            {
                "__qualname__": "ProtocolDAGResult", "__module__": "m", "name": None,
                "protocol_units": [{":gufe-key:": "U-u1"}],
                "protocol_unit_results": [{":gufe-key:": "ProtocolUnitResult-r1"}],
            },
        ],
    ]
    result = subprocess.run(
        [sys.executable, "-c", code], input=compress_keyed_chain(chain), capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
