"""Small, fast gufe Protocols used by the test suite (importable by compute services in subprocesses).

``SuccessProtocol`` always succeeds; ``FailingProtocol`` fails in one simulation unit with a
recognizable message, so restart patterns and failure handling can be exercised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np
from gufe.protocols import Protocol, ProtocolDAGResult, ProtocolResult, ProtocolUnit, execute_DAG
from gufe.settings import OpenMMSystemGeneratorFFSettings, Settings, ThermoSettings
from openff.units import unit

FAILURE_MESSAGE = "simulation exploded on purpose"


class SetupUnit(ProtocolUnit):
    @staticmethod
    def _execute(ctx, *, stateA, stateB, start, **inputs):
        (ctx.shared / "setup.txt").write_text(f"{stateA.key} -> {stateB.key}")
        return {"log": "set up", "start": start if start is not None else 0.0}


class SimulationUnit(ProtocolUnit):
    @staticmethod
    def _execute(ctx, *, setup, window, **inputs):
        value = setup.outputs["start"] + 1.0 + 0.1 * window
        return {"window": window, "value": value}


class ExplodingSimulationUnit(ProtocolUnit):
    @staticmethod
    def _execute(ctx, *, setup, window, **inputs):
        raise RuntimeError(FAILURE_MESSAGE, window)


class FinishUnit(ProtocolUnit):
    @staticmethod
    def _execute(ctx, *, simulations, **inputs):
        values = [s.outputs["value"] for s in simulations]
        return {"estimate": float(sum(values)), "final": float(values[-1])}


class TestProtocolResult(ProtocolResult):
    __test__ = False  # not a pytest test class

    def get_estimate(self):
        return float(np.mean(self.data["estimates"])) if self.data.get("estimates") else None

    def get_uncertainty(self):
        return float(np.std(self.data["estimates"])) if self.data.get("estimates") else None

    def get_rate_of_convergence(self):  # pragma: no cover - not meaningful here
        return None


class TestSettings(Settings):
    """gufe's required force field and thermodynamic settings, plus the number of windows."""

    __test__ = False  # not a pytest test class

    n_windows: int = 2


def protocol_settings(**changes: Any) -> TestSettings:
    """The test protocols' settings; ``changes`` sets the extra fields of a subclass's settings."""
    return TestSettings(
        forcefield_settings=OpenMMSystemGeneratorFFSettings(),
        thermo_settings=ThermoSettings(temperature=298.15 * unit.kelvin),
        **changes,
    )


class SuccessProtocol(Protocol):
    """Setup → N simulation windows → finish (``settings.n_windows``)."""

    result_cls = TestProtocolResult
    _settings_cls = TestSettings
    simulation_unit = SimulationUnit

    @classmethod
    def _default_settings(cls):
        return protocol_settings()

    def _create(self, stateA, stateB, mapping=None, extends: Optional[ProtocolDAGResult] = None):
        start = None
        if extends is not None:
            start = [r for r in extends.protocol_unit_results if r.name == "finish"][0].outputs["final"]
        setup = SetupUnit(name="setup", stateA=stateA, stateB=stateB, start=start)
        sims = [
            self.simulation_unit(name=f"window {i}", setup=setup, window=i)
            for i in range(self.settings.n_windows)
        ]
        finish = FinishUnit(name="finish", simulations=sims)
        return [setup, *sims, finish]

    def _gather(self, protocol_dag_results: Iterable[ProtocolDAGResult]) -> dict[str, Any]:
        estimates = []
        for pdr in protocol_dag_results:
            for result in pdr.protocol_unit_results:
                if result.name == "finish" and result.ok():
                    estimates.append(result.outputs["estimate"])
        return {"estimates": estimates}


class FailingProtocol(SuccessProtocol):
    """Like SuccessProtocol, but every simulation unit raises ``RuntimeError(FAILURE_MESSAGE)``."""

    simulation_unit = ExplodingSimulationUnit


class BrokenCreateProtocol(SuccessProtocol):
    """Raises while building its ProtocolDAG, before anything runs."""

    def _create(self, stateA, stateB, mapping=None, extends=None):
        raise ValueError("cannot create a DAG for this transformation on purpose")


def execute_locally(protocoldag, workdir: Path) -> ProtocolDAGResult:
    """Run a ProtocolDAG in this process (gufe's ``execute_DAG``), keeping failures as results."""
    for folder in ("shared", "scratch"):
        (workdir / folder).mkdir(parents=True, exist_ok=True)
    return execute_DAG(
        protocoldag,
        shared_basedir=workdir / "shared",
        scratch_basedir=workdir / "scratch",
        raise_error=False,
    )
