"""What the upstream peer scripts share: config in, JSON out, the gufe networks they submit, recorded calls.

The scripts in this folder run under upstream alchemiscale 0.8.0's own environment (``.venv-upstream``,
built by ``devtools/install-env.sh --upstream``), so ``import alchemiscale`` is upstream's package,
never this repository's: this folder has no ``alchemiscale`` beside it, and the tests run the
scripts from a working directory outside the repository. Each script reads one JSON config file
(its only argument) and writes its answers as JSON to the config's ``output`` path; the pytest
side asserts on them.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

# gufe's own test protocols: DummyProtocol succeeds, BrokenProtocol's "problem child" unit raises
DUMMY_REPEATS = 3
LIGANDS = {"methane": "C", "ethane": "CC", "methanol": "CO"}


def read_config() -> dict:
    if len(sys.argv) != 2:
        sys.exit(f"usage: {Path(sys.argv[0]).name} CONFIG.json")
    return json.loads(Path(sys.argv[1]).read_text())


def write_output(config: dict, data: dict) -> None:
    Path(config["output"]).write_text(json.dumps({"peer": peer_versions(), **data}, default=jsonable, indent=1))


def peer_versions() -> dict:
    """Which alchemiscale and gufe answered: the tests check it is upstream 0.8.0, not this repository."""
    import alchemiscale
    import gufe

    return {
        "alchemiscale": alchemiscale.__version__,
        "alchemiscale_file": alchemiscale.__file__,
        "gufe": gufe.__version__,
    }


def jsonable(value: Any) -> Any:
    """JSON for what upstream's methods return: keys and scopes as strings, gufe objects as class and key."""
    from gufe.tokenization import GufeTokenizable

    if isinstance(value, GufeTokenizable):
        return {"class": type(value).__qualname__, "key": str(value.key)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


class Recorder:
    """Calls upstream methods one by one, recording each answer or error, so one failure hides no other.

    Records are keyed by label, ``method`` or ``method:variant``; the pytest side checks each.
    """

    def __init__(self):
        self.records: dict[str, dict] = {}

    def call(self, label: str, fn: Callable, *args, summary: Callable[[Any], Any] = jsonable, **kwargs) -> Any:
        if label in self.records:
            raise ValueError(f"label {label!r} recorded twice")
        started = time.monotonic()
        try:
            value = fn(*args, **kwargs)
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
            self.records[label] = {"ok": False, "error": error, "traceback": traceback.format_exc()}
            value = None
        else:
            try:
                self.records[label] = {"ok": True, "value": summary(value)}
            except Exception as e:
                self.records[label] = {"ok": False, "error": f"summarizing the answer: {type(e).__name__}: {e}"}
        self.records[label]["seconds"] = round(time.monotonic() - started, 3)
        return value


def public_methods(cls: type) -> list[str]:
    import inspect

    return sorted(name for name, member in inspect.getmembers(cls) if not name.startswith("_") and callable(member))


def scope(text: str):
    from alchemiscale.models import Scope

    return Scope.from_str(text)


def scoped_key(text: str):
    from alchemiscale.models import ScopedKey

    return ScopedKey.from_str(text)


def user_client(config: dict):
    """Upstream's AlchemiscaleClient on the user API; no retries (upstream retries 404s too)."""
    from alchemiscale.interface.client import AlchemiscaleClient

    return AlchemiscaleClient(
        config["user_api_url"],
        config["user_identifier"],
        config["user_key"],
        cache_directory=config["cache_directory"],
        max_retries=0,
    )


def small_molecule(name: str, smiles: str):
    from gufe import SmallMoleculeComponent
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=42)
    return SmallMoleculeComponent.from_rdkit(mol, name=name)


def dummy_protocol():
    from gufe.tests.test_protocol import DummyProtocol

    settings = DummyProtocol.default_settings()
    settings.n_repeats = DUMMY_REPEATS
    return DummyProtocol(settings)


def broken_protocol():
    from gufe.tests.test_protocol import BrokenProtocol

    return BrokenProtocol(BrokenProtocol.default_settings())


def peer_network(name: str):
    """Three solvated small molecules: two DummyProtocol Transformations, one BrokenProtocol, one NonTransformation.

    Returns the AlchemicalNetwork and its parts by role: ``systems`` by ligand name, ``edges`` as
    ``ok1`` (methane→ethane), ``ok2`` (methane→methanol), ``broken`` (ethane→methanol) and ``non``.
    """
    from gufe import AlchemicalNetwork, ChemicalSystem, NonTransformation, SolventComponent, Transformation

    solvent = SolventComponent()
    systems = {
        n: ChemicalSystem({"ligand": small_molecule(n, s), "solvent": solvent}, name=f"{n} solvated")
        for n, s in LIGANDS.items()
    }
    edges = {
        "ok1": Transformation(systems["methane"], systems["ethane"], dummy_protocol(), name="methane to ethane"),
        "ok2": Transformation(systems["methane"], systems["methanol"], dummy_protocol(), name="methane to methanol"),
        "broken": Transformation(systems["ethane"], systems["methanol"], broken_protocol(), name="ethane to methanol"),
        "non": NonTransformation(systems["methane"], dummy_protocol(), name="methane equilibrium"),
    }
    return AlchemicalNetwork(edges=list(edges.values()), name=name), systems, edges


def local_scoped_key(obj, scope_text: str) -> str:
    """The ScopedKey the server should give ``obj`` in a scope, from the key gufe 1.x computes here."""
    return f"{obj.key}-{scope_text}"


def pdr_summary(pdr) -> dict:
    """What a ProtocolDAGResult read back must show: success, which Transformation, failures' messages."""
    return {
        "key": str(pdr.key),
        "ok": pdr.ok(),
        "transformation_key": str(pdr.transformation_key),
        "extends_key": None if pdr.extends_key is None else str(pdr.extends_key),
        "units": sorted(str(u.name) for u in pdr.protocol_unit_results),
        "failures": [
            {"unit": f.name, "exception": f.exception[0], "message": str(f.exception[1][0])}
            for f in pdr.protocol_unit_failures
        ],
    }


def result_summary(result) -> dict | None:
    """A DummyProtocolResult: how many ProtocolDAGResults it gathers, and its estimate."""
    if result is None:
        return None
    return {
        "class": type(result).__qualname__,
        "n_results": len(result.data["key_results"]),
        "estimate": float(result.get_estimate()),
    }
