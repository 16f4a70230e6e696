"""Storage test helpers: synthetic network chains of any size.

The state store fixtures (``n4js``, ``n4js_fresh``, ``n4js_preloaded``, ``network_chain``,
``unique_scope``) live in ``tests/integration/conftest.py``.
"""

from __future__ import annotations

import hashlib

import pytest


def _synthetic_key(qualname: str, *parts) -> str:
    return f"{qualname}-" + hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()


def synthetic_network_chain(n_transformations: int, name: str = "synthetic") -> list:
    """A valid AlchemicalNetwork keyed chain with ``n_transformations`` edges, built as plain JSON.

    The store never sees gufe objects, so a generated chain exercises it exactly like a real one
    while taking milliseconds to build at any size.
    """
    n_systems = int(n_transformations**0.5) + 2
    protocol = _synthetic_key("SuccessProtocol", name)
    chain = [[protocol, {"settings": {"n_windows": 2}, "__qualname__": "SuccessProtocol", "__module__": "synthetic"}]]
    systems = []
    for i in range(n_systems):
        component = _synthetic_key("SmallMoleculeComponent", name, i)
        chain.append([component, {"name": f"ligand {i}", "__qualname__": "SmallMoleculeComponent",
                                  "__module__": "synthetic"}])
        system = _synthetic_key("ChemicalSystem", name, i)
        chain.append([system, {"components": {"ligand": {":gufe-key:": component}}, "name": f"ligand {i} vacuum",
                               "__qualname__": "ChemicalSystem", "__module__": "synthetic"}])
        systems.append(system)
    pairs = [(a, b) for a in range(n_systems) for b in range(n_systems) if a != b][:n_transformations]
    edges = []
    for a, b in pairs:
        key = _synthetic_key("Transformation", name, a, b)
        chain.append([key, {"stateA": {":gufe-key:": systems[a]}, "stateB": {":gufe-key:": systems[b]},
                            "protocol": {":gufe-key:": protocol}, "mapping": None, "name": f"{a} to {b}",
                            "__qualname__": "Transformation", "__module__": "synthetic"}])
        edges.append(key)
    chain.append([_synthetic_key("AlchemicalNetwork", name, n_transformations), {
        "nodes": [{":gufe-key:": s} for s in systems], "edges": [{":gufe-key:": e} for e in edges],
        "name": name, "__qualname__": "AlchemicalNetwork", "__module__": "synthetic"}])
    return chain


@pytest.fixture(scope="session")
def make_synthetic_chain():
    return synthetic_network_chain
