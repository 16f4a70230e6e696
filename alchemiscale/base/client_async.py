"""Running client coroutines from synchronous code, and splitting work into batches.

The clients expose a synchronous API but issue many requests concurrently with ``httpx.AsyncClient``.
``run_async`` bridges the two. In a plain script no event loop is running, so the coroutine runs
on a fresh loop in the calling thread. Inside a running loop (Jupyter, or an async application)
the calling thread cannot block on its own loop, so the coroutine runs on a fresh loop in a private
worker thread while the caller waits for it. This avoids patching the running loop (nest_asyncio),
and because every coroutine owns its loop, no asyncio object is ever shared between loops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion and return its result, whether or not a loop is running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="alchemiscale-client") as worker:
        return worker.submit(asyncio.run, coroutine).result()


def batched(iterable: Iterable[T], n: int) -> Iterator[list[T]]:
    """Successive lists of ``n`` items (the last one may be shorter)."""
    if n < 1:
        raise ValueError(f"batch size must be at least 1, got {n}")
    iterator = iter(iterable)
    while batch := list(islice(iterator, n)):
        yield batch
