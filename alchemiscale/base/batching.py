"""Store calls that arrive together go to Neo4j together: one transaction for many requests.

Each API request is handled in a thread of the server's pool. Under load most of a short write's
cost in Neo4j is the transaction around it (its round trips, its locks, its commit), so a thread
that finds a batch of its kind already out (``max_in_flight``) does not send its own: it queues
its request and waits. When a batch returns, the thread that sent it hands the queue to one of the
waiting threads, which sends the whole queue as the next batch while new requests queue up behind
it. A request that finds nothing out goes out at once, alone, so a quiet API adds no delay; the
batches grow only as fast as requests pile up.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Optional, Sequence, TypeVar, Union

from .metrics import STORE_BATCH_SIZE

Request = TypeVar("Request")
Answer = TypeVar("Answer")


@dataclass(eq=False)
class _Waiting(Generic[Request, Answer]):
    request: Request
    ready: threading.Event = field(default_factory=threading.Event)
    answer: Union[Answer, Exception, None] = None  # what the store answered, or raised, for this request
    sends: bool = False  # handed the queue: this thread sends the next batch


class Batcher(Generic[Request, Answer]):
    """Batches the concurrent requests of one kind of one API process on one store.

    ``single(request)`` answers a lone request or raises; ``batch(requests)`` answers several in one
    transaction, giving back (not raising) each request's own error in its place. If ``batch``
    raises (Neo4j down, say), every request in it gets that error.
    """

    def __init__(
        self,
        kind: str,
        single: Callable[[Request], Answer],
        batch: Callable[[list[Request]], Sequence[Union[Answer, Exception]]],
        *,
        max_batch: int,
        max_in_flight: int = 1,
    ):
        self.kind = kind  # the ``kind`` label of the batch-size metric
        self._single = single
        self._batch = batch
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._lock = threading.Lock()
        self._queue: list[_Waiting[Request, Answer]] = []
        self._senders = 0
        self.batch_sizes: Counter[int] = Counter()  # batches sent, by number of requests in them

    def submit(self, request: Request) -> Answer:
        """What ``single(request)`` returns, or raises, sent alone or in a batch."""
        waiting: _Waiting[Request, Answer] = _Waiting(request)
        with self._lock:
            if self._senders < self.max_in_flight:
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
        return waiting.answer  # type: ignore[return-value]

    def _send(self, own: _Waiting[Request, Answer]) -> None:
        """Send ``own`` with the queue (up to ``max_batch``), then hand what queued meanwhile on."""
        with self._lock:
            batch = [own, *self._queue[: self.max_batch - 1]]
            del self._queue[: self.max_batch - 1]
            self.batch_sizes[len(batch)] += 1
        STORE_BATCH_SIZE.labels(self.kind).observe(len(batch))
        try:
            if len(batch) == 1:
                own.answer = self._single(own.request)
            else:
                for w, answer in zip(batch, self._batch([w.request for w in batch]), strict=True):
                    w.answer = answer
        except Exception as e:  # a lone request's refusal, or a failed batch: every request in it
            for w in batch:
                w.answer = e
        finally:
            with self._lock:
                if self._queue:  # the next sender takes this one's slot
                    successor = self._queue.pop(0)
                    successor.sends = True
                    successor.ready.set()
                else:
                    self._senders -= 1
            for w in batch[1:]:
                w.ready.set()


_batchers: "weakref.WeakKeyDictionary[Any, dict[str, Batcher]]" = weakref.WeakKeyDictionary()
_batchers_lock = threading.Lock()


def batcher_of(store: Any, kind: str, make: Callable[[], Batcher]) -> Batcher:
    """The batcher of ``kind`` for ``store`` (made by ``make`` on first use): one per store, so per API process."""
    with _batchers_lock:
        kinds = _batchers.setdefault(store, {})
        batcher: Optional[Batcher] = kinds.get(kind)
        if batcher is None:
            batcher = kinds[kind] = make()
        return batcher
