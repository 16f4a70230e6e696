"""Signal handlers that stop a compute service cleanly (it then deregisters, freeing its Tasks)."""

from __future__ import annotations

import signal
from typing import Protocol

STOP_SIGNALS = ("SIGHUP", "SIGINT", "SIGTERM")


class Stoppable(Protocol):
    @property
    def stopping(self) -> bool: ...

    def stop(self) -> None: ...


def install_stop_handlers(service: Stoppable) -> list[signal.Signals]:
    """On SIGHUP, SIGINT or SIGTERM call ``service.stop()``, then raise KeyboardInterrupt.

    The KeyboardInterrupt unwinds whatever the main thread is doing (e.g. waiting on a running
    Task), so the service's cleanup runs promptly. A service that is already stopping is not
    interrupted again, so a second signal cannot break into its cleanup (deregistering). Must be
    called from the main thread; signals this platform lacks are skipped. Returns the signals handled.
    """

    def handler(signum, frame):
        already_stopping = service.stopping
        service.stop()
        if not already_stopping:
            raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")

    installed = []
    for name in STOP_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is not None:
            signal.signal(signum, handler)
            installed.append(signum)
    return installed
