"""The one serialization of ProtocolDAGResults: a keyed chain as JSON, UTF-8 encoded, zstd-compressed.

Compute services produce these bytes, the object store keeps them untouched, and clients read them
back. Servers only need the gufe-free half of this module: decoding with strict validation (a bad
upload must end in a clear error, never a crash) and :func:`summarize_protocoldagresult`, which
decides success and collects tracebacks straight from the keyed chain. The functions that turn gufe
objects into bytes and back import gufe only when called.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional, Union

import zstandard

from .keyedchain import KEY_STUB, QUALNAME, KeyedChain, KeyedChainError
from ..models import validate_gufe_key

if TYPE_CHECKING:  # pragma: no cover
    from gufe.protocols import ProtocolDAGResult

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Media type of result bytes sent as they are stored (clients ask for it with ``Accept``).
RESULT_MEDIA_TYPE = "application/zstd"
COMPRESSION_LEVEL = 3
MAX_DECOMPRESSED_BYTES = 1 << 30

_FAILURE_QUALNAME = "ProtocolUnitFailure"


class ResultDecodeError(ValueError):
    """Stored or uploaded result bytes are not a valid (compressed) keyed chain; the message says why."""


def compress_keyed_chain(chain_json: list) -> bytes:
    """JSON-encode a keyed chain of JSON-native values, UTF-8 encode it and zstd-compress it."""
    if not isinstance(chain_json, list):
        raise TypeError(f"a keyed chain must be a list of [key, keyed dict] pairs, got {type(chain_json).__name__}")
    text = json.dumps(chain_json, ensure_ascii=False, separators=(",", ":"))
    return zstandard.ZstdCompressor(level=COMPRESSION_LEVEL).compress(text.encode("utf-8"))


def decompress_keyed_chain(data: bytes, *, max_size: int = MAX_DECOMPRESSED_BYTES) -> list:
    """Decode bytes made by :func:`compress_keyed_chain` (or legacy plain UTF-8 JSON) and validate the chain.

    Raises :class:`ResultDecodeError` for corrupt, truncated or oversized data, invalid JSON, or JSON
    that is not a keyed chain.
    """
    data = _require_bytes(data)
    raw = _zstd_decompress(data, max_size) if data.startswith(ZSTD_MAGIC) else data
    return _decode_chain(raw)[0]


def canonical_result(data: bytes, *, max_size: int = MAX_DECOMPRESSED_BYTES) -> tuple[bytes, dict[str, Any]]:
    """Uploaded result bytes in the one form that is stored, with their :func:`summarize_protocoldagresult`.

    The stored form is that of :func:`compress_keyed_chain`: zstd-compressed keyed-chain JSON. Such
    bytes come back unchanged; legacy plain UTF-8 JSON is compressed. The chain is parsed and
    validated once for both. Raises :class:`ResultDecodeError` as :func:`decompress_keyed_chain` does.
    """
    data = _require_bytes(data)
    if data.startswith(ZSTD_MAGIC):
        return data, summarize_protocoldagresult(_decode_chain(_zstd_decompress(data, max_size))[1])
    if len(data) > max_size:
        raise ResultDecodeError(f"result data is {len(data)} bytes of JSON; the limit is {max_size}")
    summary = summarize_protocoldagresult(_decode_chain(data)[1])
    return zstandard.ZstdCompressor(level=COMPRESSION_LEVEL).compress(data), summary


def gufe_bytes_value(latin1_text: str, *, max_size: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """The bytes that gufe's JSON encoding of a bytes value holds, read as gufe's decoder reads them.

    gufe encodes bytes as ``{"__class__": "bytes", "__module__": "builtins", ":is_custom:": true,
    "latin-1": text}``; since gufe 1.2 the text is of the zstd-compressed bytes, before that of the
    bytes themselves, and gufe's decoder decompresses only what is zstd. Upstream compute clients
    send results this way, so an upload of a result arrives compressed twice.
    """
    data = latin1_to_bytes(latin1_text)
    return _zstd_decompress(data, max_size) if data.startswith(ZSTD_MAGIC) else data


def _require_bytes(data: Any) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ResultDecodeError(f"result data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ResultDecodeError("result data is empty")
    return data


def _decode_chain(raw: bytes) -> tuple[list, KeyedChain]:
    """The keyed chain that UTF-8 JSON ``raw`` holds, as JSON and validated."""
    try:
        chain = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ResultDecodeError(f"result data is neither zstd-compressed nor UTF-8 text: {e}") from None
    except json.JSONDecodeError as e:
        raise ResultDecodeError(f"result data is not valid JSON: {e}") from None
    try:
        return chain, KeyedChain.from_json(chain)
    except KeyedChainError as e:
        raise ResultDecodeError(f"result data is not a keyed chain: {e}") from None


def _zstd_decompress(data: bytes, max_size: int) -> bytes:
    try:
        declared = zstandard.frame_content_size(data)
    except zstandard.ZstdError as e:
        raise ResultDecodeError(f"corrupt zstd data: {e}") from None
    if declared > max_size:
        raise ResultDecodeError(f"result data would decompress to {declared} bytes; the limit is {max_size}")
    try:
        # max_output_size bounds frames that do not declare their size (declared == -1)
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=max_size)
    except zstandard.ZstdError as e:
        raise ResultDecodeError(f"corrupt or truncated zstd data: {e}") from None


def bytes_to_latin1(data: bytes) -> str:
    """Wire form of result bytes: every byte becomes the character with the same code point."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    return bytes(data).decode("latin-1")


def latin1_to_bytes(text: str) -> bytes:
    """Inverse of :func:`bytes_to_latin1`."""
    if not isinstance(text, str):
        raise ResultDecodeError(f"expected a latin-1 string of result bytes, got {type(text).__name__}")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as e:
        raise ResultDecodeError(
            f"result string holds a character above U+00FF at position {e.start}, so it is not latin-1 encoded bytes"
        ) from None


def summarize_protocoldagresult(chain_json: Union[list, KeyedChain]) -> dict[str, Any]:
    """What a server needs to know about a ProtocolDAGResult keyed chain, read without gufe.

    Returns ``{key, ok, transformation_key, failures, n_units, n_results}``. ``ok`` is True only when
    every ProtocolUnit has a successful (non-failure) ProtocolUnitResult, as gufe's own ``ok()``.
    ``failures`` lists ``{source_key, failure_key, traceback, exception}`` for each
    ProtocolUnitFailure. ``transformation_key`` is the result's own label (gufe 1.x records the
    Transformation it came from), else its name when that is a Transformation key, else None.
    """
    try:
        chain = chain_json if isinstance(chain_json, KeyedChain) else KeyedChain.from_json(chain_json)
    except KeyedChainError as e:
        raise ResultDecodeError(f"not a keyed chain: {e}") from None
    root = chain.root
    if root.qualname != "ProtocolDAGResult":
        raise ResultDecodeError(f"keyed chain root is a {root.qualname!r}, not a 'ProtocolDAGResult'")
    unit_keys = _referenced_keys(root.keyed_dict, "protocol_units", root.key)
    result_keys = _referenced_keys(root.keyed_dict, "protocol_unit_results", root.key)

    succeeded: set[str] = set()
    failures: list[dict[str, Any]] = []
    for result_key in result_keys:
        result = chain[result_key].keyed_dict
        source_key = result.get("source_key")
        if not isinstance(source_key, str):
            raise ResultDecodeError(f"{result_key}: 'source_key' must be the key of a ProtocolUnit")
        if _is_failure(result):
            failures.append(
                {
                    "source_key": source_key,
                    "failure_key": result_key,
                    "traceback": _text_or_none(result.get("traceback")),
                    "exception": result.get("exception"),
                }
            )
        else:
            succeeded.add(source_key)

    return {
        "key": root.key,
        "ok": all(unit_key in succeeded for unit_key in unit_keys),
        "transformation_key": _transformation_key(root.keyed_dict.get("transformation_key"))
        or _transformation_key(root.keyed_dict.get("name")),
        "failures": failures,
        "n_units": len(unit_keys),
        "n_results": len(result_keys),
    }


def _referenced_keys(keyed_dict: dict, attribute: str, owner: str) -> list[str]:
    value = keyed_dict.get(attribute)
    if not isinstance(value, list) or not all(isinstance(v, dict) and KEY_STUB in v for v in value):
        raise ResultDecodeError(f"{owner}: {attribute!r} must be a list of references to gufe objects")
    return [v[KEY_STUB] for v in value]


def _is_failure(result: dict) -> bool:
    # subclasses of ProtocolUnitFailure keep its serialized 'exception' and 'traceback' attributes
    return result.get(QUALNAME) == _FAILURE_QUALNAME or "traceback" in result or "exception" in result


def _text_or_none(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def _transformation_key(name: Any) -> Optional[str]:
    if not isinstance(name, str):
        return None
    try:
        key = validate_gufe_key(name)
    except ValueError:
        return None
    return key if key.split("-", 1)[0].endswith("Transformation") else None


def serialize_protocoldagresult(protocoldagresult: "ProtocolDAGResult") -> bytes:
    """Bytes of a ProtocolDAGResult as stored and uploaded (client and compute side; imports gufe)."""
    from .gufe_chain import to_keyed_chain_json

    return compress_keyed_chain(to_keyed_chain_json(protocoldagresult))


def deserialize_protocoldagresult(data: bytes) -> "ProtocolDAGResult":
    """Rebuild a ProtocolDAGResult from stored bytes (client and compute side; imports gufe)."""
    from gufe.protocols import ProtocolDAGResult

    from .gufe_chain import from_keyed_chain_json

    chain = decompress_keyed_chain(data)
    obj = from_keyed_chain_json(chain)
    if not isinstance(obj, ProtocolDAGResult):
        raise ResultDecodeError(f"result data holds a {type(obj).__name__}, not a ProtocolDAGResult")
    return obj
