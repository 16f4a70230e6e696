"""Keyed chains as plain JSON: the wire and storage format of gufe objects on the servers.

A keyed chain is a list of ``[gufe key, keyed dict]`` pairs, dependencies first, the root last.
A keyed dict is the object's own attributes with every referenced gufe object replaced by a stub
``{":gufe-key:": key}``. The servers validate and take apart chains with this module alone, so
they never import gufe or any Protocol package, and accept objects from any gufe version.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Union

from ..errors import MalformedInputError
from ..models import validate_gufe_key

KEY_STUB = ":gufe-key:"
QUALNAME = "__qualname__"
MODULE = "__module__"
VERSION = ":version:"

MAX_ENTRIES = 250_000
MAX_DEPTH = 64

PathItem = Union[str, int]


class KeyedChainError(MalformedInputError):
    """A keyed chain is malformed; the message says which entry and why."""


def is_key_stub(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and KEY_STUB in value


@dataclass(frozen=True)
class Reference:
    """One reference from an entry to another gufe object, at ``path`` inside the keyed dict."""

    key: str
    path: tuple[PathItem, ...]

    @property
    def attribute(self) -> str:
        return str(self.path[0])

    @property
    def dict_key(self) -> Optional[str]:
        """The member name when the reference sits directly in a dict attribute."""
        if len(self.path) == 2 and isinstance(self.path[1], str):
            return self.path[1]
        return None

    @property
    def index(self) -> Optional[int]:
        """The position when the reference sits directly in a list attribute."""
        if len(self.path) == 2 and isinstance(self.path[1], int):
            return self.path[1]
        return None


@dataclass
class Entry:
    key: str
    keyed_dict: dict
    references: list[Reference] = field(default_factory=list)

    @property
    def qualname(self) -> str:
        return self.keyed_dict[QUALNAME]

    @property
    def module(self) -> str:
        return self.keyed_dict[MODULE]

    def content_hash(self) -> str:
        return content_hash(self.keyed_dict)


def iter_references(value: Any, path: tuple[PathItem, ...] = (), depth: int = 0) -> Iterator[Reference]:
    """Yield every key stub inside a keyed dict (or any nested value), with its path."""
    if depth > MAX_DEPTH:
        raise KeyedChainError(f"value nested deeper than {MAX_DEPTH} levels at {'/'.join(map(str, path))}")
    if is_key_stub(value):
        yield Reference(key=value[KEY_STUB], path=path)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from iter_references(v, path + (k,), depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from iter_references(v, path + (i,), depth + 1)


def canonical_json(value: Any) -> str:
    """A deterministic JSON text: sorted keys, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(keyed_dict: dict) -> str:
    return hashlib.sha256(canonical_json(keyed_dict).encode("utf-8")).hexdigest()


class KeyedChain:
    """A validated keyed chain: entries in dependency order, the root last."""

    def __init__(self, entries: list[Entry]):
        self.entries = entries
        self._by_key = {e.key: e for e in entries}

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def __getitem__(self, key: str) -> Entry:
        return self._by_key[key]

    @property
    def root(self) -> Entry:
        return self.entries[-1]

    def to_json(self) -> list[list]:
        return [[e.key, e.keyed_dict] for e in self.entries]

    def of_qualname(self, qualname: str) -> list[Entry]:
        return [e for e in self.entries if e.qualname == qualname]

    def dependencies(self, key: str) -> list[str]:
        """Keys ``key`` references directly, in order of first appearance."""
        return list(dict.fromkeys(r.key for r in self._by_key[key].references))

    @classmethod
    def from_json(cls, chain: Any, *, max_entries: int = MAX_ENTRIES) -> "KeyedChain":
        """Validate a decoded JSON value as a keyed chain."""
        if not isinstance(chain, list):
            raise KeyedChainError(f"a keyed chain must be a list of [key, keyed dict] pairs, got {type(chain).__name__}")
        if not chain:
            raise KeyedChainError("a keyed chain must not be empty")
        if len(chain) > max_entries:
            raise KeyedChainError(f"keyed chain has {len(chain)} entries; the limit is {max_entries}")

        entries: list[Entry] = []
        seen: set[str] = set()
        for position, item in enumerate(chain):
            entry = _validate_entry(position, item)
            if entry.key in seen:
                raise KeyedChainError(f"entry {position}: key {entry.key!r} appears more than once")
            for ref in entry.references:
                if ref.key not in seen:
                    where = "/".join(map(str, ref.path))
                    raise KeyedChainError(
                        f"entry {position} ({entry.key}): reference at {where!r} to {ref.key!r} does not resolve to "
                        "an earlier entry (dependencies must come first, and cycles are not allowed)"
                    )
            seen.add(entry.key)
            entries.append(entry)
        return cls(entries)


def _validate_entry(position: int, item: Any) -> Entry:
    if not isinstance(item, (list, tuple)) or len(item) != 2:
        raise KeyedChainError(f"entry {position}: expected a [key, keyed dict] pair")
    key, keyed_dict = item
    try:
        key = validate_gufe_key(key)
    except ValueError as e:
        raise KeyedChainError(f"entry {position}: {e}") from None
    if not isinstance(keyed_dict, dict):
        raise KeyedChainError(f"entry {position} ({key}): keyed dict must be an object, got {type(keyed_dict).__name__}")
    for required in (QUALNAME, MODULE):
        if not isinstance(keyed_dict.get(required), str) or not keyed_dict[required]:
            raise KeyedChainError(f"entry {position} ({key}): missing or empty {required!r}")
    if VERSION in keyed_dict and not isinstance(keyed_dict[VERSION], (int, str)):
        raise KeyedChainError(f"entry {position} ({key}): {VERSION!r} must be an integer or string")
    qualname = keyed_dict[QUALNAME]
    if key.split("-", 1)[0] != qualname:
        raise KeyedChainError(f"entry {position}: key {key!r} does not start with its class name {qualname!r}")
    references = list(iter_references(keyed_dict))
    for ref in references:
        if not isinstance(ref.key, str):
            raise KeyedChainError(f"entry {position} ({key}): reference at {ref.path} is not a string key")
        if ref.key == key:
            raise KeyedChainError(f"entry {position} ({key}): refers to itself")
    return Entry(key=key, keyed_dict=keyed_dict, references=references)


def topological_chain(keyed_dicts: dict[str, dict]) -> list[list]:
    """Order stored keyed dicts into a chain (dependencies first, ties broken by key).

    Used when rebuilding a chain from a store that returns objects in arbitrary order.
    """
    deps = {k: {r.key for r in iter_references(d)} & keyed_dicts.keys() for k, d in keyed_dicts.items()}
    dependants: dict[str, list[str]] = {k: [] for k in keyed_dicts}
    for k, ds in deps.items():
        for d in ds:
            dependants[d].append(k)
    remaining = {k: len(ds) for k, ds in deps.items()}
    ready = sorted(k for k, n in remaining.items() if n == 0)
    ordered: list[str] = []
    heapq.heapify(ready)
    while ready:
        k = heapq.heappop(ready)
        ordered.append(k)
        for dependant in dependants[k]:
            remaining[dependant] -= 1
            if remaining[dependant] == 0:
                heapq.heappush(ready, dependant)
    if len(ordered) != len(keyed_dicts):
        raise KeyedChainError("stored objects contain a reference cycle")
    return [[k, keyed_dicts[k]] for k in ordered]
