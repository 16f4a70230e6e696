"""Driver plumbing shared by every part of the Neo4j state store."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, TypeVar

import neo4j
from neo4j import GraphDatabase, ManagedTransaction

from ...settings import Neo4jStoreSettings

T = TypeVar("T")


class Neo4jStoreError(Exception):
    """The state store cannot carry out a request (bad reference, conflict, broken invariant)."""


class ConflictError(Neo4jStoreError):
    """An object with this ScopedKey exists already with different content."""


class Neo4jStoreBase:
    """Holds the driver; ``execute_query`` for one-statement work, ``transaction`` for several,
    ``write_transaction`` for locking writes that must be rerun whole when Neo4j aborts them."""

    def __init__(self, driver: neo4j.Driver, dbname: str = "neo4j"):
        self.driver = driver
        self.dbname = dbname

    @classmethod
    def from_settings(cls, settings: Neo4jStoreSettings):
        driver = GraphDatabase.driver(
            settings.NEO4J_URL,
            auth=(settings.NEO4J_USER, settings.NEO4J_PASS.get_secret_value()),
            notifications_disabled_categories=["UNRECOGNIZED", "DEPRECATION", "HINT", "PERFORMANCE"],
        )
        return cls(driver, settings.NEO4J_DBNAME)

    def close(self) -> None:
        self.driver.close()

    def execute_query(self, query: str, parameters: Optional[dict[str, Any]] = None, **kwargs) -> list[neo4j.Record]:
        """Run one auto-committed, retried statement and return its records."""
        records, _, _ = self.driver.execute_query(
            query, parameters_=parameters or {}, database_=self.dbname, **kwargs
        )
        return records

    @contextmanager
    def transaction(self) -> Iterator[ManagedTransaction]:
        """An explicit transaction: committed when the block ends, rolled back on an exception."""
        with self.driver.session(database=self.dbname) as session:
            tx = session.begin_transaction()
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            else:
                tx.commit()
            finally:
                tx.close()

    def write_transaction(self, work: Callable[[ManagedTransaction], T]) -> T:
        """Run ``work`` in a write transaction, rerun from the start if Neo4j aborts it as transient.

        Writers lock in one order, but a CLAIMS edge made after the registrations were locked can
        still meet a claimer head-on; Neo4j then aborts one side as deadlocked, and the rerun reads
        everything afresh under new locks.
        """
        with self.driver.session(database=self.dbname) as session:
            return session.execute_write(work)
