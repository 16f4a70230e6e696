"""When a client request is retried, and how long it waits in between."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

# Gateway and availability failures: the request may well succeed later. A 404 is an answer, not
# a transient failure, so it is never retried.
RETRY_STATUS_CODES = frozenset({502, 503, 504})


def should_retry(response: httpx.Response) -> bool:
    """A gateway or availability failure, or a 409 with ``Retry-After``: the answer to a retried request
    whose first attempt the server is still processing (same ``Idempotency-Key``), which will have an
    answer to replay shortly. Other 409s (a conflict of state) carry no ``Retry-After`` and are final."""
    return response.status_code in RETRY_STATUS_CODES or (
        response.status_code == 409 and "Retry-After" in response.headers
    )


# The server could not be reached or dropped the connection; misconfiguration (a bad URL scheme)
# is not among these and fails at once.
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: ``min(max_seconds, base**n + base * U(0, 1))`` before retry n."""

    max_retries: int = 5
    base_seconds: float = 2.0
    max_seconds: float = 60.0

    def __post_init__(self):
        if not isinstance(self.max_retries, int) or self.max_retries < -1:
            raise ValueError(f"max_retries must be an integer >= -1 (-1 retries forever), got {self.max_retries!r}")
        if not self.base_seconds > 1:
            raise ValueError(f"retry_base_seconds must be greater than 1, got {self.base_seconds!r}")
        if not self.max_seconds >= 0:
            raise ValueError(f"retry_max_seconds must be >= 0, got {self.max_seconds!r}")

    def allows(self, retries_done: int) -> bool:
        """Whether another retry may follow ``retries_done`` retries."""
        return self.max_retries < 0 or retries_done < self.max_retries

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (counted from 1)."""
        jitter = self.base_seconds * random.random()
        try:
            backoff = self.base_seconds**retry_number
        except OverflowError:
            return self.max_seconds
        return min(self.max_seconds, backoff + jitter)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (a number or an HTTP date), or ``None`` if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
