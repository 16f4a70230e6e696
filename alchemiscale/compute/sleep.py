"""A sleep that another thread (or a signal handler) can cut short.

Long-running services spend most of their idle time sleeping; a stop request must end that
sleep at once instead of waiting out the interval.
"""

from __future__ import annotations

import threading


class SleepInterrupted(Exception):
    """Raised by :meth:`InterruptableSleep.sleep` when the sleep was interrupted."""


class InterruptableSleep:
    """Sleeps that end early, with :class:`SleepInterrupted`, once :meth:`interrupt` is called.

    An interruption is sticky: every sleep after it is interrupted at once, until :meth:`clear`.
    One instance can be shared by several threads, so one call stops them all.
    """

    def __init__(self) -> None:
        self._interrupted = threading.Event()

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds} s)")
        if self._interrupted.wait(seconds):
            raise SleepInterrupted(f"sleep of {seconds} s interrupted")

    __call__ = sleep

    def interrupt(self) -> None:
        self._interrupted.set()

    def clear(self) -> None:
        self._interrupted.clear()

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()
