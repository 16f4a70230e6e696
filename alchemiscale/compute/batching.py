"""The compute API's batched store calls: claims, uploads' early reads and result records (see
:mod:`alchemiscale.base.batching`).

One statement of each kind is in flight per API process; what arrives meanwhile queues and goes
out together as the next batch.
"""

from __future__ import annotations

from typing import Callable, Optional

from ..base.batching import Batcher, batcher_of
from ..models import ScopedKey
from ..storage.statestore import (
    ClaimRequest,
    Neo4jStore,
    RecordedResult,
    ResultRecord,
    ResultUploadState,
    UploadStateRequest,
)

# The most claims sent in one statement; a longer queue goes out in several.
MAX_CLAIM_BATCH = 64

# Claim statements of one API process in flight at once. One is fastest on the claim bench (273
# claims/s at 256 clients on 2 cores, against 242 with two): two batches on one hub read the same
# best Tasks, and the loser of each race claims again.
MAX_CLAIMS_IN_FLIGHT = 1

# The most uploads' early reads sent in one query.
MAX_UPLOAD_STATE_BATCH = 32

# The most results recorded in one transaction. Results of one compute service lock its
# registration, so they are recorded one transaction after another; a batch takes the lock once.
MAX_RESULT_BATCH = 32


def _store_batcher(kind: str, single: Callable, batch: Callable, max_batch: int, max_in_flight: int = 1) -> Batcher:
    """A batcher whose ``submit(request)`` answers as ``single(**vars(request))`` would (a request's
    fields are the call's arguments) and sends queued requests to ``batch``."""
    return Batcher(kind, lambda request: single(**vars(request)), batch, max_batch=max_batch, max_in_flight=max_in_flight)


def make_claim_batcher(store: Neo4jStore) -> Batcher[ClaimRequest, list[Optional[ScopedKey]]]:
    """A batcher whose ``submit`` answers as ``store.claim_taskhub_tasks`` would."""
    return _store_batcher(
        "claims", store.claim_taskhub_tasks, store.claim_taskhub_tasks_batch, MAX_CLAIM_BATCH, MAX_CLAIMS_IN_FLIGHT
    )


def make_upload_state_batcher(store: Neo4jStore) -> Batcher[UploadStateRequest, ResultUploadState]:
    """A batcher whose ``submit`` answers as ``store.get_result_upload_state`` would."""
    return _store_batcher(
        "upload_states", store.get_result_upload_state, store.get_result_upload_states, MAX_UPLOAD_STATE_BATCH
    )


def make_result_batcher(store: Neo4jStore) -> Batcher[ResultRecord, RecordedResult]:
    """A batcher whose ``submit`` answers as ``store.record_task_result`` would."""
    return _store_batcher("results", store.record_task_result, store.record_task_results, MAX_RESULT_BATCH)


def claim_batcher(store: Neo4jStore) -> Batcher[ClaimRequest, list[Optional[ScopedKey]]]:
    """The claim batcher of this API process."""
    return batcher_of(store, "claims", lambda: make_claim_batcher(store))


def upload_state_batcher(store: Neo4jStore) -> Batcher[UploadStateRequest, ResultUploadState]:
    """The uploads' early-read batcher of this API process."""
    return batcher_of(store, "upload_states", lambda: make_upload_state_batcher(store))


def result_batcher(store: Neo4jStore) -> Batcher[ResultRecord, RecordedResult]:
    """The result batcher of this API process."""
    return batcher_of(store, "results", lambda: make_result_batcher(store))
