"""Protocols slow enough to be interrupted, or that report where they ran; importable by compute services' workers."""

from __future__ import annotations

import os
import time

from gufe.protocols import ProtocolUnit

from alchemiscale.tests.protocols import FinishUnit, SetupUnit, SimulationUnit, SuccessProtocol, TestSettings, protocol_settings

PID_FILENAME = "simulation.pid"


class SlowSimulationUnit(SimulationUnit):
    """Writes its process id to the shared folder, then sleeps ``seconds`` before simulating."""

    @staticmethod
    def _execute(ctx, *, setup, window, seconds, **inputs):
        (ctx.shared / PID_FILENAME).write_text(str(os.getpid()))
        time.sleep(seconds)
        return SimulationUnit._execute(ctx, setup=setup, window=window)


class SlowSettings(TestSettings):
    seconds: float = 5.0


class SlowProtocol(SuccessProtocol):
    """One slow simulation window of ``settings.seconds``."""

    _settings_cls = SlowSettings

    @classmethod
    def _default_settings(cls):
        return slow_settings(5.0)

    def _create(self, stateA, stateB, mapping=None, extends=None):
        setup = SetupUnit(name="setup", stateA=stateA, stateB=stateB, start=None)
        simulation = SlowSimulationUnit(name="window 0", setup=setup, window=0, seconds=self.settings.seconds)
        return [setup, simulation, FinishUnit(name="finish", simulations=[simulation])]


def slow_settings(seconds: float) -> SlowSettings:
    base = protocol_settings(n_windows=1)
    return SlowSettings(**dict(base), seconds=seconds)


STRAY_VARIABLE = "ALCHEMISCALE_TEST_STRAY"


class EnvironmentUnit(ProtocolUnit):
    """Sleeps ``seconds``, then reports what it ran in: process id, wall interval, the device variable.

    It also leaves a stray environment variable behind, which the next Task on the same worker must not see.
    """

    @staticmethod
    def _execute(ctx, *, seconds, **inputs):
        start = time.time()
        time.sleep(seconds)
        seen = {name: os.environ.get(name) for name in ("CUDA_VISIBLE_DEVICES", STRAY_VARIABLE)}
        os.environ[STRAY_VARIABLE] = "left behind"
        return {"environment": seen, "pid": os.getpid(), "start": start, "end": time.time()}


class EnvironmentProtocol(SuccessProtocol):
    """One unit that records its environment after ``settings.seconds`` (see :class:`EnvironmentUnit`)."""

    _settings_cls = SlowSettings

    @classmethod
    def _default_settings(cls):
        return slow_settings(1.0)

    def _create(self, stateA, stateB, mapping=None, extends=None):
        return [EnvironmentUnit(name="environment", seconds=self.settings.seconds)]
