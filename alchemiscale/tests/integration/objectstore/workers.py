"""Process entry points for the local store's multi-process tests (importable under 'spawn')."""

from __future__ import annotations

from alchemiscale.models import ScopedKey
from alchemiscale.storage.objectstore import LocalObjectStore

PAYLOAD_SIZE = 256 * 1024
SHARED_RESULT_KEY = "ProtocolDAGResult-shared"


def payload(writer: int) -> bytes:
    """A payload whose bytes all equal the writer's number, so a torn read is easy to spot."""
    return bytes([writer]) * PAYLOAD_SIZE


def own_result_key(writer: int, round_: int) -> str:
    return f"ProtocolDAGResult-w{writer}r{round_}"


def push_repeatedly(root: str, transformation: str, writer: int, rounds: int) -> int:
    """Push to one location every writer shares, and to locations of this writer's own."""
    store = LocalObjectStore(root)
    tf_sk = ScopedKey.from_str(transformation)
    for round_ in range(rounds):
        store.push_protocoldagresult(payload(writer), True, SHARED_RESULT_KEY, tf_sk)
        store.push_protocoldagresult(payload(writer), True, own_result_key(writer, round_), tf_sk)
    return writer
