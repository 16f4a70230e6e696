"""State store: schema (constraints and indexes), health check and reset."""

from __future__ import annotations

from neo4j.exceptions import Neo4jError

from ...errors import UnavailableError
from .base import Neo4jStoreError
from .statuscounts import COUNTER_LABEL, StatusCountsMixin

# name -> (label, property); each uniqueness constraint also gives an index on that property.
CONSTRAINTS: dict[str, tuple[str, str]] = {
    "scoped_key": ("GufeTokenizable", "_scoped_key"),
    "user_identifier": ("CredentialedUserIdentity", "identifier"),
    "compute_identifier": ("CredentialedComputeIdentity", "identifier"),
    "compute_service_registration_identifier": ("ComputeServiceRegistration", "identifier"),
    "idempotency_record_key": ("IdempotencyRecord", "record_key"),
    "task_status_counter_key": (COUNTER_LABEL, "key"),
}

# name -> (label, properties): the lookups the store's queries filter on.
INDEXES: dict[str, tuple[str, tuple[str, ...]]] = {
    "gufe_key": ("GufeTokenizable", ("_gufe_key",)),
    "gufe_scope": ("GufeTokenizable", ("_org", "_campaign", "_project")),
    "task_status": ("Task", ("status",)),
    "task_scope_status": ("Task", ("_org", "_campaign", "_project", "status")),
    "compute_manager_name": ("ComputeManagerRegistration", ("name",)),
    "idempotency_expires": ("IdempotencyRecord", ("expires",)),
    "task_status_counter_transformation": (COUNTER_LABEL, ("transformation",)),
}


def _quoted(name: str) -> str:
    """A schema name as a backtick-quoted Cypher identifier (schema names cannot be parameters)."""
    return "`" + name.replace("`", "``") + "`"


class AdminMixin(StatusCountsMixin):
    def initialize(self) -> None:
        """Create the constraints and indexes; safe to run again on an initialized database."""
        for name, (label, prop) in CONSTRAINTS.items():
            self.execute_query(
                f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE n.{prop} IS UNIQUE"
            )
        for name, (label, props) in INDEXES.items():
            columns = ", ".join(f"n.{p}" for p in props)
            self.execute_query(f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{label}) ON ({columns})")
        self.execute_query("CALL db.awaitIndexes(300)")
        if not self.task_status_counted():  # a new store, or one written before status counters
            self.rebuild_task_status_counters()

    def check(self) -> None:
        """Raise Neo4jStoreError naming every constraint or index ``initialize`` makes that is missing."""
        self._store_check()
        constraints = {r["name"] for r in self.execute_query("SHOW CONSTRAINTS YIELD name RETURN name")}
        indexes = {r["name"] for r in self.execute_query("SHOW INDEXES YIELD name RETURN name")}
        missing = [f"constraint {n}" for n in CONSTRAINTS if n not in constraints]
        missing += [f"index {n}" for n in INDEXES if n not in indexes]
        if self.tasks_uncounted():
            missing.append("Task status counters")
        if missing:
            raise Neo4jStoreError(
                f"the state store is not initialized: missing {', '.join(missing)}; run initialize()"
            )

    def reset(self) -> None:
        """Delete every node and relationship, then drop all constraints and indexes. Irreversible."""
        with self.driver.session(database=self.dbname) as session:
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
        for record in self.execute_query("SHOW CONSTRAINTS YIELD name RETURN name"):
            self.execute_query(f"DROP CONSTRAINT {_quoted(record['name'])} IF EXISTS")
        for record in self.execute_query("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name"):
            self.execute_query(f"DROP INDEX {_quoted(record['name'])} IF EXISTS")

    def _store_check(self) -> None:
        """Fail unless the database answers a query: UnavailableError if the server cannot be reached,
        Neo4jStoreError if it refuses the query (e.g. no such database)."""
        try:
            self.execute_query("SHOW FUNCTIONS YIELD name RETURN count(name) AS n")
        except (Neo4jError, OSError) as e:
            raise Neo4jStoreError(f"cannot query the Neo4j database {self.dbname!r}: {e}") from e
