"""Turn a validated keyed chain into node and edge rows for bulk (UNWIND) writes.

Pure Python, no driver: the rows are what ``NetworksMixin`` sends to Neo4j. Every node keeps
its canonical keyed-dict JSON (``_json``), so retrieval never depends on how properties were
flattened; primitive top-level attributes are copied as properties only to make them queryable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...errors import MalformedInputError
from ...serialization.keyedchain import MODULE, QUALNAME, VERSION, Entry, KeyedChain, canonical_json
from ...models import MAX_INT64, Scope, ScopedKey
from .scoping import node_props, scope_props

TRANSFORMATION_QUALNAMES = ("Transformation", "NonTransformation")
STATE_ATTRIBUTES = ("stateA", "stateB", "system")
NETWORK_QUALNAME = "AlchemicalNetwork"


@dataclass
class ChainRows:
    """Everything needed to write one chain: node rows and DEPENDS_ON edge rows."""

    root: ScopedKey
    nodes: list[dict]
    edges: list[dict]

    @property
    def scoped_keys(self) -> list[str]:
        return [n["sk"] for n in self.nodes]


def is_transformation_like(entry: Entry) -> bool:
    """A Transformation, NonTransformation, or any class with state references and a protocol."""
    if entry.qualname in TRANSFORMATION_QUALNAMES:
        return True
    attributes = {r.attribute for r in entry.references if len(r.path) == 1}
    return "protocol" in attributes and bool(attributes & set(STATE_ATTRIBUTES))


def validate_transformations(chain: KeyedChain) -> None:
    """Every Transformation-like entry must go between two different ChemicalSystems."""
    for entry in chain:
        if not is_transformation_like(entry):
            continue
        states = {r.attribute: r.key for r in entry.references if len(r.path) == 1}
        if "stateA" in states and states.get("stateA") == states.get("stateB"):
            name = entry.keyed_dict.get("name")
            label = f"{entry.key} ({name!r})" if name else entry.key
            raise MalformedInputError(
                f"Transformation {label} has identical stateA and stateB ({states['stateA']}); "
                "a Transformation must connect two different ChemicalSystems"
            )


def _primitive(value: Any) -> bool:
    if isinstance(value, bool) or isinstance(value, (str, float)):
        return True
    return isinstance(value, int) and -MAX_INT64 - 1 <= value <= MAX_INT64


def queryable_attributes(keyed_dict: dict) -> dict[str, Any]:
    """Top-level primitive attributes (or non-empty homogeneous lists of them), copied as node properties."""
    props = {}
    for name, value in keyed_dict.items():
        if name in (QUALNAME, MODULE, VERSION) or name.startswith("_") or ":" in name:
            continue
        if _primitive(value):
            props[name] = value
        elif isinstance(value, list) and value and all(_primitive(v) for v in value):
            if len({type(v) for v in value}) == 1:
                props[name] = value
    return props


def chain_rows(chain: KeyedChain, scope: Scope) -> ChainRows:
    """Node rows (label, sk, hash, props) and edge rows (src, dst, path, props) for ``chain`` in ``scope``."""
    scope_dict = scope.to_dict()
    nodes, edges = [], []
    for entry in chain:
        sk = ScopedKey(gufe_key=entry.key, **scope_dict)
        text = canonical_json(entry.keyed_dict)
        props = {
            **queryable_attributes(entry.keyed_dict),
            **node_props(sk),
            "_json": text,
            "_content_hash": entry.content_hash(),
            "_module": entry.module,
        }
        nodes.append({"sk": str(sk), "label": entry.qualname, "hash": props["_content_hash"], "props": props})
        for ref in entry.references:
            edge_props = {"attribute": ref.attribute, "path": json.dumps(list(ref.path)), **scope_props(scope)}
            if ref.dict_key is not None:
                edge_props["key"] = ref.dict_key
            if ref.index is not None:
                edge_props["index"] = ref.index
            edges.append({
                "src": str(sk),
                "dst": str(ScopedKey(gufe_key=ref.key, **scope_dict)),
                "path": edge_props["path"],
                "props": edge_props,
            })
    return ChainRows(root=ScopedKey(gufe_key=chain.root.key, **scope_dict), nodes=nodes, edges=edges)
