"""A Protocol slow enough to be interrupted, importable by compute services in child processes."""

from __future__ import annotations

import os
import time

from alchemiscale.tests.protocols import FinishUnit, SetupUnit, SimulationUnit, SuccessProtocol

PID_FILENAME = "simulation.pid"


class SlowSimulationUnit(SimulationUnit):
    """Writes its process id to the shared folder, then sleeps ``seconds`` before simulating."""

    @staticmethod
    def _execute(ctx, *, setup, window, seconds, **inputs):
        (ctx.shared / PID_FILENAME).write_text(str(os.getpid()))
        time.sleep(seconds)
        return SimulationUnit._execute(ctx, setup=setup, window=window)


class SlowProtocol(SuccessProtocol):
    """One slow simulation window; settings: ``{"seconds": float}``."""

    @classmethod
    def _default_settings(cls):
        return {"n_windows": 1, "seconds": 5.0}

    def _create(self, stateA, stateB, mapping=None, extend_from=None):
        setup = SetupUnit(name="setup", stateA=stateA, stateB=stateB, start=None)
        simulation = SlowSimulationUnit(name="window 0", setup=setup, window=0, seconds=self.settings["seconds"])
        return [setup, simulation, FinishUnit(name="finish", simulations=[simulation])]
