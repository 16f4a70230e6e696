"""gufe objects to and from keyed chains (client and compute side: imports gufe).

A keyed chain is gufe 1.x's own serialization (:class:`gufe.tokenization.KeyedChain`): every
GufeTokenizable reachable from an object as ``[key, keyed dict]`` pairs, dependencies first, the
object last. Servers store and serve it as JSON without gufe. The JSON text uses gufe's own codecs,
so numpy arrays, bytes, paths, units and Settings survive the trip.
"""

from __future__ import annotations

import json
from typing import Any

from gufe.tokenization import JSON_HANDLER, GufeTokenizable, KeyedChain

KeyedChainJSON = list[list]


def to_keyed_chain(obj: GufeTokenizable) -> list[tuple[str, dict]]:
    """All objects reachable from ``obj`` as ``(key, keyed dict)``, dependencies first, ``obj`` last."""
    return obj.to_keyed_chain()


def from_keyed_chain(chain: list) -> GufeTokenizable:
    """Rebuild the root object of a keyed chain (its last entry), resolving references within the chain."""
    if not chain:
        raise ValueError("cannot rebuild a gufe object from an empty keyed chain")
    return KeyedChain([(key, keyed_dict) for key, keyed_dict in chain]).to_gufe()


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
