"""InterruptableSleep: ends early, from another thread, for every sleeper."""

from __future__ import annotations

import threading
import time

import pytest

from alchemiscale.compute.sleep import InterruptableSleep, SleepInterrupted


def test_sleep_lasts_its_interval():
    start = time.monotonic()
    InterruptableSleep().sleep(0.1)
    assert time.monotonic() - start >= 0.1


def test_interrupt_from_another_thread_ends_every_sleeper_at_once():
    sleep = InterruptableSleep()
    outcomes = []

    def sleeper():
        try:
            sleep(30)
            outcomes.append("slept")
        except SleepInterrupted:
            outcomes.append("interrupted")

    threads = [threading.Thread(target=sleeper) for _ in range(2)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    sleep.interrupt()
    for thread in threads:
        thread.join(5)
    assert outcomes == ["interrupted", "interrupted"]
    assert time.monotonic() - start < 5


def test_interruption_is_sticky_until_cleared():
    sleep = InterruptableSleep()
    sleep.interrupt()
    assert sleep.interrupted
    with pytest.raises(SleepInterrupted):
        sleep(10)
    sleep.clear()
    sleep(0.01)
    assert not sleep.interrupted


def test_negative_interval_is_an_error():
    with pytest.raises(ValueError, match="negative"):
        InterruptableSleep().sleep(-1)
