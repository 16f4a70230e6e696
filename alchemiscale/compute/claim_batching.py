"""Claims that arrive together go to Neo4j together: one statement, one transaction for many.

Each claim request is handled in a thread of the API's pool. Under load most of a claim's cost in
Neo4j is per transaction rather than per Task, so a thread that finds another claim already being
sent does not open its own transaction: it queues its request and waits. When the statement in
flight returns, the thread that sent it hands the queue to one of the waiting threads, which sends
the whole queue as one batch (``Neo4jStore.claim_taskhub_tasks_batch``) while new requests queue up
behind it. A claim that finds nobody sending goes out at once, alone, as before, so a quiet API
adds no delay; the batches grow only as fast as claims pile up.
"""

from __future__ import annotations

import threading
from collections import Counter
import weakref
from dataclasses import dataclass, field
from typing import Optional, Union

from ..errors import StoreError
from ..models import ScopedKey
from ..storage.statestore import ClaimRequest, Neo4jStore

# The most claims sent in one statement; a longer queue goes out in several.
MAX_BATCH = 64

Answer = Union[list[Optional[ScopedKey]], StoreError]


@dataclass(eq=False)
class _Waiting:
    request: ClaimRequest
    ready: threading.Event = field(default_factory=threading.Event)
    answer: Optional[Answer] = None
    error: Optional[BaseException] = None  # the whole batch failed, e.g. Neo4j unavailable
    sends: bool = False  # handed the queue: this thread sends the next batch


class ClaimBatcher:
    """Batches the concurrent claims of one API process on one state store."""

    def __init__(self, store: Neo4jStore):
        self.store = store
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._sending = False
        self.batch_sizes: Counter[int] = Counter()  # batches sent, by number of claims in them

    def claim(self, request: ClaimRequest) -> list[Optional[ScopedKey]]:
        """What ``Neo4jStore.claim_taskhub_tasks`` returns for ``request``, or raises."""
        waiting = _Waiting(request)
        with self._lock:
            self._queue.append(waiting)
            waiting.sends = not self._sending
            self._sending = True
        if not waiting.sends:
            waiting.ready.wait()
        if waiting.sends:
            self._send()
        if waiting.error is not None:
            raise waiting.error
        if isinstance(waiting.answer, StoreError):
            raise waiting.answer
        return waiting.answer

    def _send(self) -> None:
        with self._lock:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            self.batch_sizes[len(batch)] += 1
        try:
            requests = [w.request for w in batch]
            if len(batch) == 1:
                answers: list[Answer] = []
                try:
                    answers.append(self.store.claim_taskhub_tasks(**vars(requests[0])))
                except StoreError as e:
                    answers.append(e)
            else:
                answers = self.store.claim_taskhub_tasks_batch(requests)
            for w, answer in zip(batch, answers):
                w.answer = answer
        except Exception as e:  # the batch's statement failed: every claim in it fails the same way
            for w in batch:
                w.error = e
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].sends = True
                    self._queue[0].ready.set()
                else:
                    self._sending = False
            for w in batch:
                w.ready.set()


_batchers: "weakref.WeakKeyDictionary[Neo4jStore, ClaimBatcher]" = weakref.WeakKeyDictionary()
_batchers_lock = threading.Lock()


def claim_batcher(store: Neo4jStore) -> ClaimBatcher:
    """The batcher of ``store``: one per store, so per API process."""
    with _batchers_lock:
        batcher = _batchers.get(store)
        if batcher is None:
            batcher = _batchers[store] = ClaimBatcher(store)
        return batcher
