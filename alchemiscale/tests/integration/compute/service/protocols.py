"""Protocols slow enough to be interrupted, or that report where they ran; importable by compute services' workers."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

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
_RENDEZVOUS_POLL_SECONDS = 0.05


class EnvironmentUnit(ProtocolUnit):
    """Reports what it ran in: process id, wall interval, the device variable.

    With a ``rendezvous`` folder it marks its arrival there and waits (at most ``seconds``) until
    ``parties`` units have arrived, so units that all see the others arrive provably ran at the same
    time; without one it sleeps ``seconds``. It also leaves a stray environment variable behind,
    which the next Task on the same worker must not see.
    """

    @staticmethod
    def _execute(ctx, *, seconds, rendezvous, parties, **inputs):
        start = time.time()
        arrived = 0
        if rendezvous is None:
            time.sleep(seconds)
        else:
            folder = Path(rendezvous)
            (folder / str(os.getpid())).touch()
            while (arrived := len(list(folder.iterdir()))) < parties and time.time() - start < seconds:
                time.sleep(_RENDEZVOUS_POLL_SECONDS)
        seen = {name: os.environ.get(name) for name in ("CUDA_VISIBLE_DEVICES", STRAY_VARIABLE)}
        os.environ[STRAY_VARIABLE] = "left behind"
        return {"environment": seen, "pid": os.getpid(), "start": start, "end": time.time(), "arrived": arrived}


class EnvironmentSettings(SlowSettings):
    rendezvous: Optional[str] = None
    parties: int = 1


class EnvironmentProtocol(SuccessProtocol):
    """One unit that records its environment (see :class:`EnvironmentUnit`)."""

    _settings_cls = EnvironmentSettings

    @classmethod
    def _default_settings(cls):
        return environment_settings(1.0)

    def _create(self, stateA, stateB, mapping=None, extends=None):
        settings = self.settings
        unit = EnvironmentUnit(
            name="environment", seconds=settings.seconds, rendezvous=settings.rendezvous, parties=settings.parties
        )
        return [unit]


def environment_settings(seconds: float, rendezvous: Optional[Path] = None, parties: int = 1) -> EnvironmentSettings:
    base = protocol_settings(n_windows=1)
    return EnvironmentSettings(
        **dict(base), seconds=seconds, rendezvous=None if rendezvous is None else str(rendezvous), parties=parties
    )
