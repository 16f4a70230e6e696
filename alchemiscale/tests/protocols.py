"""Small, fast gufe Protocols used by the test suite (importable by compute services in subprocesses).

``SuccessProtocol`` always succeeds; ``FailingProtocol`` fails in one simulation unit with a
recognizable message, so restart patterns and failure handling can be exercised.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Optional

import numpy as np
from gufe.protocols import Protocol, ProtocolDAGResult, ProtocolResult, ProtocolUnit

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


class SuccessProtocol(Protocol):
    """Setup → N simulation windows → finish; settings: ``{"n_windows": int}``."""

    result_cls = TestProtocolResult
    simulation_unit = SimulationUnit

    def __hash__(self):
        return hash((self.__class__.__name__, json.dumps(self.settings, sort_keys=True)))

    @classmethod
    def _default_settings(cls):
        return {"n_windows": 2}

    def _create(self, stateA, stateB, mapping=None, extend_from: Optional[ProtocolDAGResult] = None):
        start = None
        if extend_from is not None:
            start = [r for r in extend_from.protocol_unit_results if r.name == "finish"][0].outputs["final"]
        setup = SetupUnit(name="setup", stateA=stateA, stateB=stateB, start=start)
        sims = [
            self.simulation_unit(name=f"window {i}", setup=setup, window=i)
            for i in range(self.settings["n_windows"])
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

    def _create(self, stateA, stateB, mapping=None, extend_from=None):
        raise ValueError("cannot create a DAG for this transformation on purpose")
