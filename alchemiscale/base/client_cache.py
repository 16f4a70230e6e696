"""Client-side cache of immutable server objects: an in-memory LRU in front of an on-disk ``diskcache``.

Networks, Transformations and ChemicalSystems never change once stored, and neither do result
payloads, so a client may keep them forever. Keyed chains (JSON-native lists) are cached under
their ScopedKey string; result payloads (bytes) under their result reference ScopedKey string;
clients prefix both with their identity's :func:`cache_namespace`.
Every disk entry is a zstd frame with a content checksum, so a damaged entry is detected on read,
deleted with a warning, and fetched again from the server.
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal, get_args

import diskcache
import zstandard

CacheKind = Literal["network", "transformation", "chemicalsystem", "result"]
CACHE_KINDS: tuple[str, ...] = get_args(CacheKind)

# How many values of each kind the in-memory LRU keeps. Results are kept on disk only: a single
# result payload can reach hundreds of MB.
MEMORY_SLOTS: dict[str, int] = {"network": 100, "transformation": 10_000, "chemicalsystem": 1_000, "result": 0}

# Keyed chains compress well; result payloads usually arrive already zstd-compressed, so the
# cheapest level suffices to wrap them in a checksummed frame.
_COMPRESSION_LEVEL: dict[str, int] = {"network": 3, "transformation": 3, "chemicalsystem": 3, "result": 1}

DEFAULT_CACHE_SIZE_LIMIT = 1024**3

# A slow derivation, so that the namespace names on disk do not make guessing a weak key cheap.
_NAMESPACE_ITERATIONS = 50_000


def cache_namespace(identifier: str, key: str) -> str:
    """Where an identity's entries live: derived from its key, so other identities cannot name them."""
    derived = hashlib.pbkdf2_hmac("sha256", key.encode(), f"alchemiscale-cache:{identifier}".encode(),
                                  _NAMESPACE_ITERATIONS)
    return derived.hex()[:32]


class ClientCache:
    """Two-level cache; ``directory=None`` keeps only the in-memory level."""

    def __init__(self, directory: str | Path | None, size_limit: int = DEFAULT_CACHE_SIZE_LIMIT):
        if size_limit <= 0:
            raise ValueError(f"cache size limit must be a positive number of bytes, got {size_limit}")
        self._memory: dict[str, OrderedDict[str, Any]] = {kind: OrderedDict() for kind in CACHE_KINDS}
        self._lock = threading.Lock()
        self._disk: diskcache.Cache | None = None
        if directory is not None:
            self._disk = diskcache.Cache(
                str(directory), size_limit=size_limit, eviction_policy="least-recently-used"
            )

    @property
    def directory(self) -> Path | None:
        return None if self._disk is None else Path(self._disk.directory)

    def get(self, kind: CacheKind, key: str) -> Any | None:
        """The cached value, or ``None`` when absent (or found damaged and removed)."""
        _check_kind(kind)
        with self._lock:
            memory = self._memory[kind]
            if key in memory:
                memory.move_to_end(key)
                return memory[key]
        if self._disk is None:
            return None
        disk_key = _disk_key(kind, key)
        stored = self._disk.get(disk_key)
        if stored is None:
            return None
        try:
            value = _decode(kind, stored)
        except (zstandard.ZstdError, ValueError, TypeError) as error:
            self._disk.delete(disk_key)
            warnings.warn(
                f"deleted a damaged {kind} entry for {key} from the local cache at "
                f"{self._disk.directory} ({type(error).__name__}); it will be fetched again",
                RuntimeWarning,
                stacklevel=2,
            )
            return None
        self._remember(kind, key, value)
        return value

    def set(self, kind: CacheKind, key: str, value: Any) -> None:
        """Store ``value``: a JSON-native keyed chain, or ``bytes`` for the ``result`` kind."""
        _check_kind(kind)
        encoded = _encode(kind, value)
        self._remember(kind, key, value)
        if self._disk is not None:
            self._disk.set(_disk_key(kind, key), encoded)

    def close(self) -> None:
        if self._disk is not None:
            self._disk.close()

    def _remember(self, kind: str, key: str, value: Any) -> None:
        slots = MEMORY_SLOTS[kind]
        if slots == 0:
            return
        with self._lock:
            memory = self._memory[kind]
            memory[key] = value
            memory.move_to_end(key)
            while len(memory) > slots:
                memory.popitem(last=False)


def _check_kind(kind: str) -> None:
    if kind not in CACHE_KINDS:
        raise ValueError(f"unknown cache kind {kind!r}; expected one of {', '.join(CACHE_KINDS)}")


def _disk_key(kind: str, key: str) -> str:
    return f"{kind}/{key}"


def _encode(kind: str, value: Any) -> bytes:
    if kind == "result":
        if not isinstance(value, bytes):
            raise TypeError(f"result cache values must be bytes, got {type(value).__name__}")
        raw = value
    else:
        if not isinstance(value, list):
            raise TypeError(f"{kind} cache values must be keyed chains (lists), got {type(value).__name__}")
        raw = json.dumps(value, separators=(",", ":")).encode()
    compressor = zstandard.ZstdCompressor(level=_COMPRESSION_LEVEL[kind], write_checksum=True)
    return compressor.compress(raw)


def _decode(kind: str, stored: bytes) -> Any:
    raw = zstandard.ZstdDecompressor().decompress(stored)
    if kind == "result":
        return raw
    value = json.loads(raw)
    if not isinstance(value, list):
        raise ValueError(f"cached {kind} is not a keyed chain")
    return value
