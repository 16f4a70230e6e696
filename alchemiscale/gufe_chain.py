"""gufe objects to and from keyed chains (client and compute side: imports gufe).

gufe 0.4 has keyed dicts but no keyed chain, so this module builds the chain itself: every
GufeTokenizable reachable from an object, as ``[key, keyed dict]`` pairs, dependencies first.
JSON text uses gufe's own codecs, so numpy arrays, bytes and paths survive the trip.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from gufe.tokenization import (
    JSON_HANDLER,
    GufeKey,
    GufeTokenizable,
    from_dict,
    is_gufe_key_dict,
    modify_dependencies,
)

KEY_STUB = ":gufe-key:"

KeyedChainJSON = list[list]


def _direct_dependencies(obj: GufeTokenizable) -> list[GufeTokenizable]:
    found: list[GufeTokenizable] = []

    def record(dependency: GufeTokenizable):
        found.append(dependency)
        return dependency

    modify_dependencies(
        obj.to_shallow_dict(), record, lambda o: isinstance(o, GufeTokenizable), mode="encode", top=True
    )
    return found


def to_keyed_chain(obj: GufeTokenizable) -> KeyedChainJSON:
    """All objects reachable from ``obj`` as ``[key, keyed dict]``, dependencies first, ``obj`` last."""
    chain: dict[str, dict] = {}
    stack: list[tuple[GufeTokenizable, bool]] = [(obj, False)]
    while stack:
        current, expanded = stack.pop()
        key = str(current.key)
        if key in chain:
            continue
        if expanded:
            chain[key] = current.to_keyed_dict()
            continue
        stack.append((current, True))
        for dependency in reversed(_direct_dependencies(current)):
            if str(dependency.key) not in chain:
                stack.append((dependency, False))
    return [[key, keyed_dict] for key, keyed_dict in chain.items()]


def from_keyed_chain(chain: KeyedChainJSON) -> GufeTokenizable:
    """Rebuild the root object of a keyed chain (the last entry).

    References are resolved from the chain itself, not gufe's global registry: gufe 0.4 registers
    a rebuilt ProtocolUnit under a fresh random key before restoring its stored ``_key``, so a
    registry lookup fails in any process that never held the original objects.
    """
    if not chain:
        raise ValueError("cannot rebuild a gufe object from an empty keyed chain")
    built: dict[str, GufeTokenizable] = {}
    obj = None
    for key, keyed_dict in chain:
        keyed_dict = copy.deepcopy(keyed_dict)  # gufe pops from the dict it decodes
        if isinstance(keyed_dict.get("_key"), str):
            keyed_dict["_key"] = GufeKey(keyed_dict["_key"])
        try:
            resolved = modify_dependencies(
                keyed_dict, lambda stub: built[stub[KEY_STUB]], is_gufe_key_dict, mode="decode", top=True
            )
        except KeyError as e:
            raise ValueError(f"keyed chain entry {key!r} refers to {e.args[0]!r}, which no earlier entry defines") from None
        obj = from_dict(resolved)
        built[key] = obj
    return obj


def dumps(value: Any) -> str:
    """JSON text of a value that may contain keyed chains, using gufe's codecs."""
    return json.dumps(value, cls=JSON_HANDLER.encoder)


def loads(text: str | bytes) -> Any:
    return json.loads(text, cls=JSON_HANDLER.decoder)


def to_keyed_chain_json(obj: GufeTokenizable) -> KeyedChainJSON:
    """A keyed chain made of JSON-native values only (what a server stores)."""
    return json.loads(dumps(to_keyed_chain(obj)))


def from_keyed_chain_json(chain: KeyedChainJSON) -> GufeTokenizable:
    """Inverse of :func:`to_keyed_chain_json`: restores gufe codec values, then the objects."""
    return from_keyed_chain(loads(json.dumps(chain)))
