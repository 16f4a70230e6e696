"""State store: remembered answers to POSTs that carried an ``Idempotency-Key``.

One ``IdempotencyRecord`` node per (identity, key), unique on ``record_key``. A record is
``running`` while its first request is served (owned by that request's ``claim`` token, until
``lease_expires``), then ``done`` with the answer's status, headers and body, until ``expires``.
Expired records, and running ones whose lease lapsed (their server died), count as absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from neo4j import ManagedTransaction

# How many expired records one claim deletes on its way, so that the store stays small without a sweeper.
_PURGE_BATCH = 100

_DELETE_LAPSED = """
MATCH (r:IdempotencyRecord {record_key: $record_key})
WHERE r.expires < datetime() OR (r.state = 'running' AND r.lease_expires < datetime())
DETACH DELETE r
"""

_CLAIM = """
MERGE (r:IdempotencyRecord {record_key: $record_key})
ON CREATE SET r.route = $route, r.state = 'running', r.claim = $claim, r.created = datetime(),
              r.lease_expires = datetime() + duration({seconds: $lease_seconds}),
              r.expires = datetime() + duration({seconds: $expire_seconds})
RETURN r.claim = $claim AS claimed, properties(r) AS props
"""

_PURGE_EXPIRED = """
MATCH (r:IdempotencyRecord) WHERE r.expires < datetime()
WITH r LIMIT $limit
DETACH DELETE r
"""

_GET = """
MATCH (r:IdempotencyRecord {record_key: $record_key})
WHERE r.expires >= datetime() AND (r.state = 'done' OR r.lease_expires >= datetime())
RETURN properties(r) AS props
"""

_COMPLETE = """
MATCH (r:IdempotencyRecord {record_key: $record_key, claim: $claim, state: 'running'})
SET r.state = 'done', r.status = $status, r.headers = $headers, r.body = $body
RETURN count(r) AS completed
"""

_RELEASE = """
MATCH (r:IdempotencyRecord {record_key: $record_key, claim: $claim, state: 'running'})
DETACH DELETE r
"""


@dataclass(frozen=True)
class IdempotencyRecord:
    """What the store holds for one key: the route it was used on and, once ``done``, the answer."""

    route: str
    done: bool
    status: Optional[int] = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    @classmethod
    def from_props(cls, props: dict) -> "IdempotencyRecord":
        headers = tuple(tuple(line.split(": ", 1)) for line in props.get("headers") or ())
        return cls(
            route=props["route"],
            done=props["state"] == "done",
            status=props.get("status"),
            headers=headers,
            body=bytes(props.get("body") or b""),
        )


class IdempotencyMixin:
    def claim_idempotency_record(
        self, record_key: str, route: str, claim: str, lease_seconds: int, expire_seconds: int
    ) -> Optional[IdempotencyRecord]:
        """Take ``record_key`` for the request holding ``claim`` (``None``), or return the record another holds."""

        def work(tx: ManagedTransaction) -> Optional[IdempotencyRecord]:
            tx.run(_DELETE_LAPSED, record_key=record_key).consume()
            row = tx.run(
                _CLAIM,
                record_key=record_key,
                route=route,
                claim=claim,
                lease_seconds=lease_seconds,
                expire_seconds=expire_seconds,
            ).single()
            return None if row["claimed"] else IdempotencyRecord.from_props(row["props"])

        existing = self.write_transaction(work)
        if existing is None:
            self.execute_query(_PURGE_EXPIRED, {"limit": _PURGE_BATCH})
        return existing

    def get_idempotency_record(self, record_key: str) -> Optional[IdempotencyRecord]:
        """The live record for ``record_key``, or ``None`` (never made, released, expired or abandoned)."""
        records = self.execute_query(_GET, {"record_key": record_key})
        return IdempotencyRecord.from_props(records[0]["props"]) if records else None

    def complete_idempotency_record(
        self, record_key: str, claim: str, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> bool:
        """Store the answer of the request holding ``claim``; False if its record is no longer its own."""
        records = self.execute_query(
            _COMPLETE,
            {
                "record_key": record_key,
                "claim": claim,
                "status": status,
                "headers": [f"{name}: {value}" for name, value in headers],
                "body": body,
            },
        )
        return bool(records and records[0]["completed"])

    def release_idempotency_record(self, record_key: str, claim: str) -> None:
        """Forget a running record held by ``claim``, so that a repeat of its request runs afresh."""
        self.execute_query(_RELEASE, {"record_key": record_key, "claim": claim})
