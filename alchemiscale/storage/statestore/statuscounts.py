"""State store: Task status counters per Transformation, so status counts never walk the Tasks.

A Task performs exactly one Transformation, so ``(Transformation, status) -> n`` counters answer
network and scope status by summing a few counters per Transformation, however many Tasks there
are. Every writer that creates, deletes or moves Tasks updates the counters in the same
transaction (``COUNT_MOVES``), so a count is always what a full recount would give.

Each ``(Transformation, status)`` pair is spread over ``STRIPES`` counter nodes and every update
adds to one picked at random, so claimers of one Transformation's Tasks seldom wait on the same
counter; a count is the sum over the stripes (a single stripe may go negative). Counters are
written last in a transaction and in key order, after the Task locks of ``status.py``'s protocol.

A store written before counters existed has no ``TaskStatusCounting`` marker; ``initialize``
then rebuilds the counters from the Tasks (run it with the servers stopped).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from neo4j import ManagedTransaction

from ..models import TaskStatusEnum

STRIPES = 8
COUNTER_LABEL = "TaskStatusCounter"
COUNTING_VERSION = 1

# Add a list ``moves`` of ``{tf, from, to, n}`` (a Transformation's ScopedKey, the status left and
# the status reached, either null for a creation or deletion, and how many Tasks, default 1).
COUNT_MOVES = f"""
CALL (moves) {{
    UNWIND moves AS move
    UNWIND [[move.from, -coalesce(move.n, 1)], [move.to, coalesce(move.n, 1)]] AS change
    WITH move.tf AS tf, change[0] AS status, change[1] AS delta
    WHERE tf IS NOT NULL AND status IS NOT NULL
    WITH tf, status, sum(delta) AS delta
    WHERE delta <> 0
    WITH tf, status, delta, tf + '|' + status + '|' + toString(toInteger(rand() * {STRIPES})) AS key
    ORDER BY key
    MERGE (c:{COUNTER_LABEL} {{key: key}})
    ON CREATE SET c.transformation = tf, c.status = status, c.n = 0
    SET c.n = c.n + delta
}}
"""

_COUNT = "WITH $moves AS moves\n" + COUNT_MOVES

_DELETE_COUNTERS = f"""
UNWIND $sks AS sk
MATCH (c:{COUNTER_LABEL} {{transformation: sk}})
DELETE c
"""

_REBUILD = f"""
MATCH (c:{COUNTER_LABEL}) DELETE c
WITH count(*) AS dropped
MATCH (t:Task)-[:PERFORMS]->(tf)
WITH tf._scoped_key AS tf, t.status AS status, count(t) AS n
CREATE (:{COUNTER_LABEL} {{key: tf + '|' + status + '|0', transformation: tf, status: status, n: n}})
RETURN count(*) AS counters
"""

_MARK = "MERGE (m:TaskStatusCounting) SET m.version = $version"
_MARKED = "MATCH (m:TaskStatusCounting {version: $version}) RETURN count(m) > 0 AS marked"
_ANY_TASK = "MATCH (t:Task) RETURN count(t) > 0 LIMIT 1"

# The counts of a list ``tfs`` of Transformation ScopedKeys (each counted once), as ``status, count``.
SUM_COUNTERS = f"""
UNWIND tfs AS tf
MATCH (c:{COUNTER_LABEL} {{transformation: tf}})
WITH c.status AS status, sum(c.n) AS count
WHERE count <> 0
RETURN status, count
"""


def creation_moves(transformations: Iterable[str]) -> list[dict]:
    """Moves for new waiting Tasks, one entry per Transformation."""
    return [{"tf": tf, "from": None, "to": TaskStatusEnum.waiting.value, "n": n} for tf, n in Counter(transformations).items()]


def count_moves(tx: ManagedTransaction, moves: list[dict]) -> None:
    """Apply ``moves`` (see ``COUNT_MOVES``) to the counters; moves within one status are skipped."""
    moves = [m for m in moves if m.get("from") != m.get("to")]
    if moves:
        tx.run(_COUNT, moves=moves).consume()


def delete_counters(tx: ManagedTransaction, transformations: list[str]) -> None:
    """Drop the counters of Transformations deleted with all their Tasks."""
    tx.run(_DELETE_COUNTERS, sks=transformations).consume()


class StatusCountsMixin:
    def rebuild_task_status_counters(self) -> int:
        """Recount every Transformation's Tasks by status and mark the store as counted; counters written."""

        def rebuild(tx: ManagedTransaction) -> int:
            counters = tx.run(_REBUILD).single()["counters"]
            tx.run(_MARK, version=COUNTING_VERSION).consume()
            return counters

        return self.write_transaction(rebuild)

    def task_status_counted(self) -> bool:
        """Whether the counters are maintained (the store was initialized or rebuilt since counters exist)."""
        return self.execute_query(_MARKED, {"version": COUNTING_VERSION})[0]["marked"]

    def tasks_uncounted(self) -> bool:
        """Whether Tasks exist that no counters account for (a store written before counters)."""
        return not self.task_status_counted() and bool(self.execute_query(_ANY_TASK)[0][0])

