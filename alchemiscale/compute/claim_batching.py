"""Claims that arrive together go to Neo4j together: one statement, one transaction for many.

Each claim request is handled in a thread of the API's pool. Under load most of a claim's cost in
Neo4j is the read of the hub's claimable Tasks and the transaction around it, not the claim itself,
so a thread that finds a claim statement already out (``MAX_IN_FLIGHT``) does not send its own: it
queues its request and waits. When a statement returns, the thread that sent it hands the queue to
one of the waiting threads, which sends the whole queue as one batch
(``Neo4jStore.claim_taskhub_tasks_batch``: one statement, one read per TaskHub) while new requests
queue up behind it. A claim that finds no statement out goes out at once, alone, as before, so a
quiet API adds no delay; the batches grow only as fast as claims pile up.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional, Union

from ..models import ScopedKey
from ..storage.statestore import ClaimRequest, Neo4jStore

# The most claims sent in one statement; a longer queue goes out in several.
MAX_BATCH = 64

# Claim statements of one API process in flight at once. One is fastest on the claim bench (273
# claims/s at 256 clients on 2 cores, against 242 with two): two batches on one hub read the same
# best Tasks, and the loser of each race claims again.
MAX_IN_FLIGHT = 1

# A claim's Tasks, or what its claim raised: its own refusal, or the failure of its whole batch.
Answer = Union[list[Optional[ScopedKey]], Exception]


@dataclass(eq=False)
class _Waiting:
    request: ClaimRequest
    ready: threading.Event = field(default_factory=threading.Event)
    answer: Optional[Answer] = None
    sends: bool = False  # handed the queue: this thread sends the next batch


class ClaimBatcher:
    """Batches the concurrent claims of one API process on one state store."""

    def __init__(self, store: Neo4jStore):
        self.store = store
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._senders = 0
        self.batch_sizes: Counter[int] = Counter()  # batches sent, by number of claims in them

    def claim(self, request: ClaimRequest) -> list[Optional[ScopedKey]]:
        """What ``Neo4jStore.claim_taskhub_tasks`` returns for ``request``, or raises."""
        waiting = _Waiting(request)
        with self._lock:
            if self._senders < MAX_IN_FLIGHT:
                self._senders += 1
                waiting.sends = True
            else:
                self._queue.append(waiting)
        if not waiting.sends:
            waiting.ready.wait()  # answered by another thread's batch, or handed the queue
        if waiting.sends:
            self._send(waiting)
        if isinstance(waiting.answer, Exception):
            raise waiting.answer
        return waiting.answer

    def _send(self, own: _Waiting) -> None:
        """Send ``own`` with the queue (up to ``MAX_BATCH``), then hand what queued meanwhile on."""
        with self._lock:
            batch = [own, *self._queue[: MAX_BATCH - 1]]
            del self._queue[: MAX_BATCH - 1]
            self.batch_sizes[len(batch)] += 1
        try:
            if len(batch) == 1:
                own.answer = self.store.claim_taskhub_tasks(**vars(own.request))
            else:
                for w, answer in zip(batch, self.store.claim_taskhub_tasks_batch([w.request for w in batch])):
                    w.answer = answer
        except Exception as e:  # a lone claim's refusal, or a failed batch (e.g. Neo4j down): every claim in it
            for w in batch:
                w.answer = e
        finally:
            with self._lock:
                if self._queue:  # the next sender takes this one's statement slot
                    successor = self._queue.pop(0)
                    successor.sends = True
                    successor.ready.set()
                else:
                    self._senders -= 1
            for w in batch[1:]:
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
