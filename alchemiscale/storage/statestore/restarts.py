"""Restart patterns: regexes on a TaskHub that send errored Tasks back to waiting a bounded number of times.

A TaskRestartPattern ENFORCES one TaskHub and APPLIES (with a ``num_retries`` counter) to each
Task actioned on it. When a Task errors, its newest Tracebacks decide, per TaskHub: a matching
pattern with retries left is counted and the Task restarts; a pattern out of retries, no
traceback, or no match at all cancels the Task from that TaskHub.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Optional, Sequence

from neo4j import ManagedTransaction

from ...errors import InvalidInputError, NotFoundError
from ...models import ScopedKey
from ..models import TaskRestartPattern, TaskStatusEnum
from .actions import cancel_from_taskhubs
from .claims import scoped_key_str
from .scoping import ScopedKeyLike, as_scoped_key, node_props
from .status import apply_status, lock_tasks

_ADD_PATTERNS = """
MATCH (th:GufeTokenizable:TaskHub {_scoped_key: $taskhub})
UNWIND $patterns AS props
MERGE (trp:GufeTokenizable:TaskRestartPattern {_scoped_key: props._scoped_key})
ON CREATE SET trp += props
MERGE (trp)-[:ENFORCES]->(th)
WITH th, trp
CALL {
    WITH th, trp
    MATCH (th)-[:ACTIONS]->(t:Task)
    MERGE (trp)-[app:APPLIES]->(t)
    ON CREATE SET app.num_retries = 0
}
RETURN DISTINCT trp._scoped_key AS pattern
"""

_ACTIONED_ERRORED_TASKS = """
MATCH (:GufeTokenizable:TaskHub {_scoped_key: $taskhub})-[:ACTIONS]->(t:Task {status: 'error'})
RETURN t._scoped_key AS task
"""

_ERRORED_WITH_PATTERNS = """
UNWIND $tasks AS task_sk
MATCH (t:GufeTokenizable:Task {_scoped_key: task_sk, status: 'error'})
      <-[app:APPLIES]-(trp:TaskRestartPattern)-[:ENFORCES]->(th:TaskHub)-[:ACTIONS]->(t)
CALL {
    WITH t
    OPTIONAL MATCH (t)-[:RESULTS_IN]->(r:ProtocolDAGResultRef)<-[:DETAILS]-(tb:Tracebacks)
    RETURN tb.tracebacks AS tracebacks ORDER BY r.datetime_created DESC LIMIT 1
}
RETURN t._scoped_key AS task, th._scoped_key AS taskhub, trp._scoped_key AS trp,
       trp.pattern AS pattern, trp.max_retries AS max_retries, app.num_retries AS num_retries,
       tracebacks
"""

_INCREMENT = """
UNWIND $pairs AS pair
MATCH (:GufeTokenizable:TaskRestartPattern {_scoped_key: pair[1]})
      -[app:APPLIES]->(:GufeTokenizable:Task {_scoped_key: pair[0]})
SET app.num_retries = app.num_retries + 1
"""

_RESTARTABLE = """
UNWIND $tasks AS task_sk
MATCH (t:GufeTokenizable:Task {_scoped_key: task_sk, status: 'error'})
WHERE EXISTS { (t)<-[:APPLIES]-(:TaskRestartPattern)-[:ENFORCES]->(:TaskHub)-[:ACTIONS]->(t) }
RETURN t._scoped_key AS task
"""


def _validate_patterns(patterns: Sequence[str]) -> list[str]:
    if isinstance(patterns, str):
        raise InvalidInputError("patterns must be a list of regular expressions, not a single string")
    patterns = list(patterns)
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise InvalidInputError(f"restart pattern {pattern!r} must be a non-empty string")
        try:
            re.compile(pattern)
        except re.error as error:
            raise InvalidInputError(f"restart pattern {pattern!r} is not a valid regular expression: {error}") from None
    return patterns


def _validate_retries(number_of_retries: int) -> int:
    if isinstance(number_of_retries, bool) or not isinstance(number_of_retries, int) or number_of_retries < 1:
        raise InvalidInputError(f"the number of retries must be a positive integer, got {number_of_retries!r}")
    return number_of_retries


def _decide(rows: list[dict[str, Any]]) -> tuple[bool, list[str]]:
    """For one (Task, TaskHub) pair: (cancel?, restart patterns whose counter to increment)."""
    tracebacks: Optional[list[str]] = rows[0]["tracebacks"]
    if tracebacks is None:
        return True, []
    matching = [row for row in rows if any(re.search(row["pattern"], tb) for tb in tracebacks)]
    if not matching or any(row["num_retries"] + 1 > row["max_retries"] for row in matching):
        return True, []
    return False, [row["trp"] for row in matching]


class RestartsMixin:
    def add_task_restart_patterns(
        self, taskhub: ScopedKeyLike, patterns: Sequence[str], number_of_retries: int
    ) -> list[ScopedKey]:
        """Make ``patterns`` enforce a TaskHub, each allowing ``number_of_retries`` restarts per Task.

        Patterns already on the hub keep their settings. The hub's actioned errored Tasks are
        resolved at once, in the same transaction.
        """
        hub = as_scoped_key(taskhub)
        patterns = _validate_patterns(patterns)
        _validate_retries(number_of_retries)
        pattern_props = []
        for pattern in patterns:
            model = TaskRestartPattern(pattern=pattern, max_retries=number_of_retries, taskhub_scoped_key=str(hub))
            sk = model.scoped_key(hub.scope)
            pattern_props.append(
                {
                    "pattern": pattern,
                    "max_retries": number_of_retries,
                    "taskhub_scoped_key": str(hub),
                    **node_props(sk),
                }
            )

        def work(tx: ManagedTransaction) -> list[str]:
            if not tx.run("MATCH (th:GufeTokenizable:TaskHub {_scoped_key: $taskhub}) RETURN th._scoped_key",
                          {"taskhub": str(hub)}).single():
                raise NotFoundError(f"no TaskHub {hub} in the state store")
            created = [r["pattern"] for r in tx.run(_ADD_PATTERNS, {"taskhub": str(hub), "patterns": pattern_props})]
            actioned = sorted(r["task"] for r in tx.run(_ACTIONED_ERRORED_TASKS, {"taskhub": str(hub)}))
            _resolve_task_restarts(tx, actioned)
            return created

        return [ScopedKey.from_str(sk) for sk in self.write_transaction(work)]

    def remove_task_restart_patterns(self, taskhub: ScopedKeyLike, patterns: Sequence[str]) -> None:
        """Remove patterns from a TaskHub (with their APPLIES counters); unknown patterns are ignored."""
        self.execute_query(
            "UNWIND $patterns AS pattern "
            "MATCH (trp:TaskRestartPattern {pattern: pattern, taskhub_scoped_key: $taskhub}) DETACH DELETE trp",
            {"taskhub": scoped_key_str(taskhub), "patterns": _validate_patterns(patterns)},
        )

    def clear_task_restart_patterns(self, taskhub: ScopedKeyLike) -> None:
        self.execute_query(
            "MATCH (trp:TaskRestartPattern {taskhub_scoped_key: $taskhub}) DETACH DELETE trp",
            {"taskhub": scoped_key_str(taskhub)},
        )

    def set_task_restart_patterns_max_retries(
        self, taskhub: ScopedKeyLike, patterns: Sequence[str], max_retries: int
    ) -> None:
        self.execute_query(
            "UNWIND $patterns AS pattern "
            "MATCH (trp:TaskRestartPattern {pattern: pattern, taskhub_scoped_key: $taskhub}) "
            "SET trp.max_retries = $max_retries",
            {
                "taskhub": scoped_key_str(taskhub),
                "patterns": _validate_patterns(patterns),
                "max_retries": _validate_retries(max_retries),
            },
        )

    def get_task_restart_patterns(
        self, taskhubs: Sequence[ScopedKeyLike]
    ) -> dict[ScopedKey, set[tuple[str, int]]]:
        """``{taskhub: {(pattern, max_retries), ...}}`` for every TaskHub asked about."""
        hubs = [as_scoped_key(hub) for hub in taskhubs]
        result: dict[ScopedKey, set[tuple[str, int]]] = {hub: set() for hub in hubs}
        records = self.execute_query(
            "UNWIND $taskhubs AS hub_sk "
            "MATCH (trp:TaskRestartPattern)-[:ENFORCES]->(th:GufeTokenizable:TaskHub {_scoped_key: hub_sk}) "
            "USING INDEX th:GufeTokenizable(_scoped_key) "
            "RETURN hub_sk, trp.pattern AS pattern, trp.max_retries AS max_retries",
            {"taskhubs": [str(hub) for hub in hubs]},
        )
        for record in records:
            result[ScopedKey.from_str(record["hub_sk"])].add((record["pattern"], record["max_retries"]))
        return result

    def resolve_task_restarts(self, tasks: Sequence[ScopedKeyLike]) -> list[ScopedKey]:
        """Apply the restart patterns to errored Tasks; returns the Tasks sent back to waiting.

        Tasks that are not errored, or have no pattern applying to them, are left alone.
        """
        task_sks = sorted({scoped_key_str(task) for task in tasks})
        restarted = self.write_transaction(lambda tx: _resolve_task_restarts(tx, task_sks))
        return [ScopedKey.from_str(sk) for sk in restarted]


def _resolve_task_restarts(tx: ManagedTransaction, task_sks: list[str]) -> list[str]:
    """Decide, with the Tasks locked, which errored Tasks restart and from which TaskHubs they are cancelled.

    The lock makes concurrent resolutions of one Task count once each.
    """
    if not task_sks:
        return []
    lock_tasks(tx, task_sks)
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in tx.run(_ERRORED_WITH_PATTERNS, {"tasks": task_sks}):
        pairs[(record["task"], record["taskhub"])].append(record.data())
    to_cancel: list[list[str]] = []
    to_increment: list[list[str]] = []
    for (task, hub), rows in pairs.items():
        cancel, increments = _decide(rows)
        if cancel:
            to_cancel.append([task, hub])
        to_increment.extend([task, trp] for trp in increments)
    if to_increment:
        tx.run(_INCREMENT, {"pairs": to_increment}).consume()
    if to_cancel:
        cancel_from_taskhubs(tx, to_cancel)
    restartable = [r["task"] for r in tx.run(_RESTARTABLE, {"tasks": task_sks})]
    return apply_status(tx, restartable, TaskStatusEnum.waiting)
