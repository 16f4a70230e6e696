"""Driver plumbing shared by every part of the Neo4j state store."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, TypeVar

import neo4j
from neo4j import GraphDatabase, ManagedTransaction
from neo4j.exceptions import (
    ClientError,
    ConnectionAcquisitionTimeoutError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from ...errors import ConflictError, InvalidInputError, StoreError, UnavailableError
from ...settings import Neo4jStoreSettings

T = TypeVar("T")

__all__ = ["ConflictError", "Neo4jStoreBase", "Neo4jStoreError"]


class Neo4jStoreError(StoreError):
    """The state store itself is not fit for use (not initialized, unexpected contents)."""


_TIMED_OUT = "Neo.ClientError.Transaction.TransactionTimedOut"  # also ...TimedOutClientConfiguration


@contextmanager
def unavailable_on_driver_errors() -> Iterator[None]:
    """Raise ``UnavailableError`` for driver errors that mean Neo4j is down, overloaded or too slow.

    They reach here only once the driver's own retries (bounded by ``max_transaction_retry_time``)
    gave up: the server is unreachable, the pool had no connection in time, or a deadlock or lock
    wait kept recurring.
    """
    try:
        yield
    except (ServiceUnavailable, SessionExpired, ConnectionAcquisitionTimeoutError, TransientError) as e:
        raise UnavailableError(f"the state store (Neo4j) is unavailable: {type(e).__name__}") from e
    except OverflowError as e:  # the driver refuses integers past 64 bits
        raise InvalidInputError(f"a number is too large for the state store: {e}") from e
    except ClientError as e:
        if (e.code or "").startswith(_TIMED_OUT):
            raise UnavailableError("the state store (Neo4j) did not answer within the transaction timeout") from e
        raise


class Neo4jStoreBase:
    """Holds the driver; ``execute_query`` for one-statement work, ``write_transaction`` for several.

    Both are managed by the driver, which reruns them whole when Neo4j aborts them as transient
    (deadlock, lock timeout, leader switch) or loses the connection, for at most
    ``max_transaction_retry_time``; what still fails then is an ``UnavailableError``.
    """

    def __init__(self, driver: neo4j.Driver, dbname: str = "neo4j", transaction_timeout: Optional[float] = None):
        self.driver = driver
        self.dbname = dbname
        self.transaction_timeout = transaction_timeout

    @classmethod
    def from_settings(cls, settings: Neo4jStoreSettings):
        driver = GraphDatabase.driver(
            settings.NEO4J_URL,
            auth=(settings.NEO4J_USER, settings.NEO4J_PASS.get_secret_value()),
            notifications_disabled_categories=["UNRECOGNIZED", "DEPRECATION", "HINT", "PERFORMANCE"],
            connection_timeout=settings.NEO4J_CONNECTION_TIMEOUT_SECONDS,
            connection_acquisition_timeout=settings.NEO4J_CONNECTION_ACQUISITION_TIMEOUT_SECONDS,
            max_transaction_retry_time=settings.NEO4J_MAX_TRANSACTION_RETRY_SECONDS,
        )
        return cls(driver, settings.NEO4J_DBNAME, settings.NEO4J_TRANSACTION_TIMEOUT_SECONDS)

    def close(self) -> None:
        self.driver.close()

    def execute_query(self, query: str, parameters: Optional[dict[str, Any]] = None, **kwargs) -> list[neo4j.Record]:
        """Run one auto-committed, retried statement and return its records."""
        with unavailable_on_driver_errors():
            records, _, _ = self.driver.execute_query(
                neo4j.Query(query, timeout=self.transaction_timeout),
                parameters_=parameters or {},
                database_=self.dbname,
                **kwargs,
            )
        return records

    def write_transaction(self, work: Callable[[ManagedTransaction], T]) -> T:
        """Run ``work`` in one write transaction, rerun from the start if Neo4j aborts it as transient.

        ``work`` must touch nothing outside the transaction, since it may run more than once. Its
        own exceptions (e.g. ``ConflictError``) roll the transaction back and are not retried.
        Writers lock in one order, but a CLAIMS edge made after the registrations were locked can
        still meet a claimer head-on; Neo4j then aborts one side as deadlocked, and the rerun reads
        everything afresh under new locks.
        """
        unit = neo4j.unit_of_work(timeout=self.transaction_timeout)(work)
        with unavailable_on_driver_errors():
            with self.driver.session(database=self.dbname) as session:
                return session.execute_write(unit)
