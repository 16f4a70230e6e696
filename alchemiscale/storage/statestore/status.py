"""State store: Task status transitions and status counts.

| target   | allowed from                  | side effects                                              |
|----------|-------------------------------|-----------------------------------------------------------|
| waiting  | waiting, running, error       | drop CLAIMS                                               |
| running  | waiting, running              | none (claiming sets running itself)                       |
| complete | running, complete             | drop ACTIONS, APPLIES, CLAIMS                             |
| error    | running, error                | drop CLAIMS (the Task stays actioned)                     |
| invalid  | anything but deleted          | cascade over EXTENDS; drop ACTIONS, APPLIES, CLAIMS       |
| deleted  | anything but invalid          | cascade over EXTENDS; drop ACTIONS, APPLIES, CLAIMS       |

A change that ends a running attempt closes the open ``TaskAttempt`` with the matching outcome,
and every change updates the status counters (``statuscounts.py``) in the same transaction.

Every writer of a Task's status locks in one order: the compute service registrations claiming
the Task, then the Tasks in ScopedKey order (as claiming and deregistration do), and only then
reads the status it acts on. ``lock_tasks`` and ``apply_status`` are that protocol; the result
and restart modules call them inside their own transactions so the side effects are written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Union

from neo4j import ManagedTransaction
from neo4j.exceptions import ClientError

from ...errors import InvalidInputError, NotFoundError
from ...models import Scope, ScopedKey
from ..models import NetworkStateEnum, TaskStatusEnum, utcnow
from .scoping import ScopedKeyLike, as_scope, as_scoped_key, as_scoped_keys, ordered, scope_filter
from .statuscounts import SUM_COUNTERS, count_moves

S = TaskStatusEnum


@dataclass(frozen=True)
class Transition:
    allowed_from: tuple[str, ...]
    drops: tuple[str, ...]  # relationship types into the Task that the change removes
    attempt_outcome: Optional[str]  # how an open TaskAttempt ends, if the change ends one
    cascades: bool = False  # whether Tasks extending this one (transitively) follow


ALL_STATUSES = tuple(s.value for s in S)
_RELEASE = ("ACTIONS", "APPLIES", "CLAIMS")

TRANSITIONS: dict[str, Transition] = {
    S.waiting: Transition((S.waiting, S.running, S.error), ("CLAIMS",), "requeued"),
    S.running: Transition((S.waiting, S.running), (), None),
    S.complete: Transition((S.running, S.complete), _RELEASE, "complete"),
    S.error: Transition((S.running, S.error), ("CLAIMS",), "error"),
    S.invalid: Transition(tuple(s for s in ALL_STATUSES if s != S.deleted), _RELEASE, "cancelled", True),
    S.deleted: Transition(tuple(s for s in ALL_STATUSES if s != S.invalid), _RELEASE, "cancelled", True),
}

_LOCK_CLAIMING_SERVICES = """
UNWIND $sks AS sk
MATCH (t:GufeTokenizable:Task {_scoped_key: sk})<-[:CLAIMS]-(csr:ComputeServiceRegistration)
USING INDEX t:GufeTokenizable(_scoped_key)
WITH DISTINCT csr ORDER BY csr.identifier
SET csr._lock = true
REMOVE csr._lock
"""

# The status is read after the lock is taken, so it is the one the writer acts on.
_LOCK_TASKS = """
UNWIND $sks AS sk
WITH DISTINCT sk ORDER BY sk
MATCH (t:GufeTokenizable:Task {_scoped_key: sk})
USING INDEX t:GufeTokenizable(_scoped_key)
SET t._lock = true
REMOVE t._lock
RETURN sk, t.status AS status
"""

_SET_STATUS = """
UNWIND $sks AS sk
MATCH (t:GufeTokenizable:Task {_scoped_key: sk})
USING INDEX t:GufeTokenizable(_scoped_key)
WHERE t.status IN $allowed
WITH sk, t, t.status AS previous
SET t.status = $target
WITH sk, t, previous
OPTIONAL MATCH (t)-[:PERFORMS]->(tf)
RETURN sk, previous, tf._scoped_key AS tf
"""

_DESCENDANTS = """
UNWIND $sks AS sk
MATCH (t:GufeTokenizable:Task {_scoped_key: sk})<-[:EXTENDS*]-(d:Task)
USING INDEX t:GufeTokenizable(_scoped_key)
RETURN DISTINCT d._scoped_key AS sk
"""


def check_task_status(status: str) -> str:
    try:
        return TaskStatusEnum(status).value
    except ValueError:
        raise InvalidInputError(f"invalid Task status {status!r}; expected one of: {', '.join(ALL_STATUSES)}") from None


def lock_tasks(tx: ManagedTransaction, task_sks: list[str]) -> dict[str, str]:
    """Write-lock Tasks (and the registrations claiming them, first); ``{sk: status}`` of those found."""
    tx.run(_LOCK_CLAIMING_SERVICES, sks=task_sks).consume()
    return {r["sk"]: r["status"] for r in tx.run(_LOCK_TASKS, sks=task_sks)}


def apply_status(
    tx: ManagedTransaction, task_sks: list[str], target: str, result_refs: Optional[Mapping[str, str]] = None
) -> list[str]:
    """Move locked Tasks to ``target`` where the table allows it, with every side effect of the change.

    ``result_refs`` (Task to result ref) is recorded on the attempts the change closes. Returns the
    Tasks moved (not counting those that followed over EXTENDS).
    """
    rule = TRANSITIONS[target]
    records = list(tx.run(_SET_STATUS, sks=task_sks, allowed=list(rule.allowed_from), target=target))
    moved = [r["sk"] for r in records]
    if rule.cascades and moved:
        records += _cascade(tx, moved, target, rule)
    affected = [r["sk"] for r in records]
    if affected:
        _release(tx, affected, rule, result_refs or {})
        count_moves(tx, [{"tf": r["tf"], "from": r["previous"], "to": target} for r in records])
    return moved


def _cascade(tx: ManagedTransaction, roots: list[str], target: str, rule: Transition) -> list:
    """Move the Tasks extending ``roots`` (transitively) to ``target``, locking each before reading it."""
    locked: set[str] = set()
    while found := {r["sk"] for r in tx.run(_DESCENDANTS, sks=roots)} - locked:
        lock_tasks(tx, sorted(found))
        locked |= found
    allowed = [s for s in rule.allowed_from if s != target]  # descendants already there keep their links
    return list(tx.run(_SET_STATUS, sks=sorted(locked), allowed=allowed, target=target))


_EACH_TASK = (
    "UNWIND $sks AS sk",
    "MATCH (t:GufeTokenizable:Task {_scoped_key: sk})",
    "USING INDEX t:GufeTokenizable(_scoped_key)",
)


def _release(tx: ManagedTransaction, task_sks: list[str], rule: Transition, result_refs: Mapping[str, str]) -> None:
    """Drop the relationships a transition removes and close any open TaskAttempt, in one statement."""
    lines = list(_EACH_TASK)
    if rule.drops:
        lines.append(f"CALL (t) {{ MATCH (t)<-[r:{'|'.join(rule.drops)}]-() DELETE r }}")
    if "CLAIMS" in rule.drops:
        lines.append("SET t.claim = null")
    if rule.attempt_outcome is not None:
        lines += [
            "WITH t, sk",
            "OPTIONAL MATCH (t)-[:ATTEMPTED]->(a:TaskAttempt) WHERE a.ended IS NULL",
            "SET a.ended = $now, a.outcome = $outcome, a.result_ref = $result_refs[sk]",
        ]
    if len(lines) > len(_EACH_TASK):  # something to drop or close
        tx.run(
            "\n".join(lines), sks=task_sks, now=utcnow(), outcome=rule.attempt_outcome, result_refs=dict(result_refs)
        ).consume()


class TaskStatusMixin:
    def get_task_status(self, tasks: list[ScopedKeyLike]) -> list[Optional[str]]:
        keys = as_scoped_keys(tasks)
        records = self.execute_query(
            "UNWIND $sks AS sk MATCH (t:GufeTokenizable:Task {_scoped_key: sk}) USING INDEX t:GufeTokenizable(_scoped_key) "
            "RETURN sk, t.status AS status",
            {"sks": [str(k) for k in keys]},
        )
        return ordered(keys, {r["sk"]: r["status"] for r in records})

    def set_task_status(
        self, tasks: list[ScopedKeyLike], status: str, raise_error: bool = False
    ) -> list[Optional[ScopedKey]]:
        """Move Tasks to ``status`` where the transition table allows it; None (or an error) elsewhere."""
        return self._transition(tasks, check_task_status(status), raise_error)

    def set_task_waiting(self, tasks: list[ScopedKeyLike], raise_error: bool = False) -> list[Optional[ScopedKey]]:
        return self._transition(tasks, S.waiting, raise_error)

    def set_task_running(self, tasks: list[ScopedKeyLike], raise_error: bool = False) -> list[Optional[ScopedKey]]:
        return self._transition(tasks, S.running, raise_error)

    def set_task_complete(self, tasks: list[ScopedKeyLike], raise_error: bool = False) -> list[Optional[ScopedKey]]:
        return self._transition(tasks, S.complete, raise_error)

    def set_task_error(self, tasks: list[ScopedKeyLike], raise_error: bool = False) -> list[Optional[ScopedKey]]:
        return self._transition(tasks, S.error, raise_error)

    def set_task_invalid(self, tasks: list[ScopedKeyLike], raise_error: bool = False) -> list[Optional[ScopedKey]]:
        return self._transition(tasks, S.invalid, raise_error)

    def set_task_deleted(self, tasks: list[ScopedKeyLike], raise_error: bool = False) -> list[Optional[ScopedKey]]:
        return self._transition(tasks, S.deleted, raise_error)

    def _transition(self, tasks: list[ScopedKeyLike], target: str, raise_error: bool) -> list[Optional[ScopedKey]]:
        keys = as_scoped_keys(tasks)
        rule = TRANSITIONS[target]

        def work(tx: ManagedTransaction) -> set[str]:
            current = lock_tasks(tx, sorted({str(k) for k in keys}))
            if raise_error:
                _raise_for_refused(keys, current, target, rule)
            return set(apply_status(tx, sorted(current), target))

        moved = self.write_transaction(work)
        return [k if str(k) in moved else None for k in keys]

    # -- status counts ------------------------------------------------------------------

    def get_scope_status(
        self, scope: Union[Scope, str, None] = None, network_state: Optional[str] = NetworkStateEnum.active
    ) -> dict[str, int]:
        """``{status: count}`` over the Tasks of networks in ``scope`` whose state matches the regex.

        Sums the status counters of the distinct Transformations of those networks, so each Task
        is counted once (it performs exactly one Transformation) and no Task is read.
        """
        where, params = scope_filter("an", as_scope(scope))
        if network_state is not None:
            where += " AND m.state =~ $state"
            params["state"] = network_state
        try:
            records = self.execute_query(
                f"""
                MATCH (m:NetworkMark)-[:MARKS]->(an:AlchemicalNetwork)
                WHERE {where}
                MATCH (an)-[:DEPENDS_ON {{attribute: 'edges'}}]->(tf)
                WITH collect(DISTINCT tf._scoped_key) AS tfs
                {SUM_COUNTERS}
                """,
                params,
            )
        except ClientError as e:
            if "Invalid Regex" in str(e.message) or "PatternSyntax" in str(e.message):
                raise InvalidInputError(f"invalid network state regular expression {network_state!r}: {e.message}") from None
            raise
        return {r["status"]: r["count"] for r in records}

    def get_network_status(self, networks: list[ScopedKeyLike]) -> list[dict[str, int]]:
        """``{status: count}`` for each network's Tasks (an empty dict for an unknown network)."""
        keys = as_scoped_keys(networks)
        records = self.execute_query(
            f"""
            UNWIND $sks AS sk
            CALL (sk) {{
                MATCH (an:GufeTokenizable:AlchemicalNetwork {{_scoped_key: sk}})-[:DEPENDS_ON {{attribute: 'edges'}}]->(tf)
                USING INDEX an:GufeTokenizable(_scoped_key)
                WITH collect(tf._scoped_key) AS tfs
                {SUM_COUNTERS}
            }}
            RETURN sk, status, count
            """,
            {"sks": sorted({str(k) for k in keys})},
        )
        per_network: dict[str, dict[str, int]] = {}
        for r in records:
            per_network.setdefault(r["sk"], {})[r["status"]] = r["count"]
        return [dict(per_network.get(str(k), {})) for k in keys]

    def get_transformation_status(self, transformation: ScopedKeyLike) -> dict[str, int]:
        sk = as_scoped_key(transformation)
        records = self.execute_query(
            """
            MATCH (tf:GufeTokenizable {_scoped_key: $sk})
            OPTIONAL MATCH (tf)<-[:PERFORMS]-(t:Task)
            RETURN t.status AS status, count(t) AS count
            """,
            {"sk": str(sk)},
        )
        if not records:
            raise NotFoundError(f"no Transformation with ScopedKey {sk} in the state store")
        return {r["status"]: r["count"] for r in records if r["status"] is not None}


def _raise_for_refused(keys: list[ScopedKey], current: dict[str, str], target: str, rule: Transition) -> None:
    for key in keys:
        status = current.get(str(key))
        if status is None:
            raise NotFoundError(f"no Task with ScopedKey {key} in the state store")
        if status not in rule.allowed_from:
            raise InvalidInputError(
                f"cannot set Task {key} to {target!r}: its status is {status!r}, and {target!r} can only be "
                f"reached from {', '.join(rule.allowed_from)}"
            )
