"""State store: Task status transitions and status counts.

| target   | allowed from                  | side effects                                              |
|----------|-------------------------------|-----------------------------------------------------------|
| waiting  | waiting, running, error       | drop CLAIMS                                               |
| running  | waiting, running              | none (claiming sets running itself)                       |
| complete | running, complete             | drop ACTIONS, APPLIES, CLAIMS                             |
| error    | running, error                | drop CLAIMS (the Task stays actioned)                     |
| invalid  | anything but deleted          | cascade over EXTENDS; drop ACTIONS, APPLIES, CLAIMS       |
| deleted  | anything but invalid          | cascade over EXTENDS; drop ACTIONS, APPLIES, CLAIMS       |

A change that ends a running attempt closes the open ``TaskAttempt`` with the matching outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from neo4j.exceptions import ClientError

from ...models import Scope, ScopedKey
from ..models import NetworkStateEnum, TaskStatusEnum, utcnow
from .scoping import ScopedKeyLike, as_scope, as_scoped_key, as_scoped_keys, ordered, scope_filter

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


def check_task_status(status: str) -> str:
    try:
        return TaskStatusEnum(status).value
    except ValueError:
        raise ValueError(f"invalid Task status {status!r}; expected one of: {', '.join(ALL_STATUSES)}") from None


class TaskStatusMixin:
    def get_task_status(self, tasks: list[ScopedKeyLike]) -> list[Optional[str]]:
        keys = as_scoped_keys(tasks)
        records = self.execute_query(
            "UNWIND $sks AS sk MATCH (t:GufeTokenizable:Task {_scoped_key: sk}) RETURN sk, t.status AS status",
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
        with self.transaction() as tx:
            current = {
                r["sk"]: r["status"]
                for r in tx.run(
                    "UNWIND $sks AS sk MATCH (t:GufeTokenizable:Task {_scoped_key: sk}) RETURN sk, t.status AS status",
                    sks=[str(k) for k in keys],
                )
            }
            if raise_error:
                _raise_for_refused(keys, current, target, rule)
            movable = sorted({str(k) for k in keys if current.get(str(k)) in rule.allowed_from})
            changed = [
                r["sk"]
                for r in tx.run(
                    """
                    UNWIND $sks AS sk
                    MATCH (t:GufeTokenizable:Task {_scoped_key: sk})
                    WHERE t.status IN $allowed
                    SET t.status = $target
                    RETURN sk
                    """,
                    sks=movable, allowed=list(rule.allowed_from), target=target,
                )
            ]
            affected = list(changed)
            if rule.cascades and changed:
                affected += [
                    r["sk"]
                    for r in tx.run(
                        """
                        UNWIND $sks AS sk
                        MATCH (:GufeTokenizable:Task {_scoped_key: sk})<-[:EXTENDS*]-(d:Task)
                        WHERE d.status IN $allowed AND d.status <> $target
                        WITH DISTINCT d
                        SET d.status = $target
                        RETURN d._scoped_key AS sk
                        """,
                        sks=changed, allowed=list(rule.allowed_from), target=target,
                    )
                ]
            if affected:
                self._release(tx, affected, rule)
        done = set(changed)
        return [k if str(k) in done else None for k in keys]

    @staticmethod
    def _release(tx, task_keys: list[str], rule: Transition) -> None:
        """Drop the relationships a transition removes and close any open TaskAttempt."""
        if rule.drops:
            tx.run(
                f"""
                UNWIND $sks AS sk
                MATCH (t:GufeTokenizable:Task {{_scoped_key: sk}})
                OPTIONAL MATCH (t)<-[r:{'|'.join(rule.drops)}]-()
                DELETE r
                """,
                sks=task_keys,
            ).consume()
        if "CLAIMS" in rule.drops:
            tx.run(
                "UNWIND $sks AS sk MATCH (t:GufeTokenizable:Task {_scoped_key: sk}) SET t.claim = null", sks=task_keys
            ).consume()
        if rule.attempt_outcome is not None:
            tx.run(
                """
                UNWIND $sks AS sk
                MATCH (:GufeTokenizable:Task {_scoped_key: sk})-[:ATTEMPTED]->(a:TaskAttempt)
                WHERE a.ended IS NULL
                SET a.ended = $now, a.outcome = $outcome
                """,
                sks=task_keys, now=utcnow(), outcome=rule.attempt_outcome,
            ).consume()

    # -- status counts ------------------------------------------------------------------

    def get_scope_status(
        self, scope: Union[Scope, str, None] = None, network_state: Optional[str] = NetworkStateEnum.active
    ) -> dict[str, int]:
        """``{status: count}`` over the Tasks of networks in ``scope`` whose state matches the regex.

        Walks networks → distinct Transformations → Tasks, so each Task is counted once
        without collecting Task sets; a Task performs exactly one Transformation.
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
                WITH DISTINCT tf
                MATCH (tf)<-[:PERFORMS]-(t:Task)
                RETURN t.status AS status, count(t) AS count
                """,
                params,
            )
        except ClientError as e:
            if "Invalid Regex" in str(e.message) or "PatternSyntax" in str(e.message):
                raise ValueError(f"invalid network state regular expression {network_state!r}: {e.message}") from None
            raise
        return {r["status"]: r["count"] for r in records}

    def get_network_status(self, networks: list[ScopedKeyLike]) -> list[dict[str, int]]:
        """``{status: count}`` for each network's Tasks (an empty dict for an unknown network)."""
        keys = as_scoped_keys(networks)
        records = self.execute_query(
            """
            UNWIND $sks AS sk
            MATCH (:GufeTokenizable:AlchemicalNetwork {_scoped_key: sk})-[:DEPENDS_ON {attribute: 'edges'}]->()<-[:PERFORMS]-(t:Task)
            RETURN sk, t.status AS status, count(t) AS count
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
            raise KeyError(f"no Transformation with ScopedKey {sk} in the state store")
        return {r["status"]: r["count"] for r in records if r["status"] is not None}


def _raise_for_refused(keys: list[ScopedKey], current: dict[str, str], target: str, rule: Transition) -> None:
    for key in keys:
        status = current.get(str(key))
        if status is None:
            raise KeyError(f"no Task with ScopedKey {key} in the state store")
        if status not in rule.allowed_from:
            raise ValueError(
                f"cannot set Task {key} to {target!r}: its status is {status!r}, and {target!r} can only be "
                f"reached from {', '.join(rule.allowed_from)}"
            )
