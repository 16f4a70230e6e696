"""Claiming Tasks from a TaskHub without a hub-wide lock, and the per-attempt history it records.

Upstream serializes every claimer of a hub on a lock property of the TaskHub node (issue #121).
Here candidates are chosen inside one read, without any lock, by priority tier and ACTIONS
weight, and only a few of them come back; each chosen Task is then claimed by a conditional
write that first takes that Task's own write lock and only then re-checks that it is still
claimable. A claimer that loses a race moves on to its spare candidates, then re-reads, so
concurrent claimers of one hub only contend on the same Task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

from ...errors import ForbiddenError, NotFoundError, StoreError
from ...models import ComputeServiceID, ScopedKey
from ..models import utcnow
from .scoping import ScopedKeyLike, as_scoped_key, to_native
from .statuscounts import COUNT_MOVES

# Rounds of (read candidates, conditionally claim) before giving up on a contended hub.
MAX_CLAIM_ROUNDS = 10

# Candidates read per Task still wanted: the spares let a claimer that loses a race to another
# claimer try again without re-reading the hub.
CANDIDATES_PER_CLAIM = 4

# Conditions that make an actioned Task `t` (via ACTIONS edge `a`) claimable, shared by the
# candidate read, the locked re-check, and the compute manager's count of available work.
# `t.extends` mirrors the EXTENDS edge, so Tasks extending nothing skip the traversal.
def _claimable(protocols: str) -> str:
    """The conditions, with the Protocol filter read from ``protocols`` (a parameter or a variable)."""
    return f"""
    t.status = 'waiting' AND a.weight > 0
    AND (t.extends IS NULL
         OR NOT EXISTS {{ MATCH (t)-[:EXTENDS]->(prior:Task) WHERE prior.status <> 'complete' }})
    AND ({protocols} IS NULL OR EXISTS {{
        MATCH (t)-[:PERFORMS]->()-[:DEPENDS_ON {{attribute: 'protocol'}}]->(protocol)
        WHERE any(label IN labels(protocol) WHERE label IN {protocols})
    }})
"""


CLAIMABLE_TASK = _claimable("$protocols")

# Where a statement reads a claim's inputs: the query parameters of a single claim, or, in a batch,
# the fields of its group ``g`` (the TaskHub and Protocols its claims share) and of the claim's own
# row ``r`` (``carry`` keeps them through each WITH).
_PARAMETERS = {name: f"${name}" for name in ("taskhub", "compute_service_id", "protocols", "wanted", "owner")}
_BATCHED = {"taskhub": "g.taskhub", "protocols": "g.protocols", "compute_service_id": "r.compute_service_id",
            "wanted": "r.wanted", "owner": "r.owner"}


# Up to $limit claimable Tasks of the hub in order of preference, as the list ``name``. Ordering by
# priority takes whole tiers (lowest number first) while they fit; inside the tier that does not fit,
# the Efraimidis-Spirakis key ln(u) / weight (the logarithm of u ** (1 / weight), which does not
# underflow for small weights) makes the top keys a sample without replacement with probability
# proportional to weight.
def _scan(v: dict[str, str], imports: str = "", name: str = "candidates") -> str:
    return f"""
CALL ({imports}) {{
    MATCH (:GufeTokenizable:TaskHub {{_scoped_key: {v['taskhub']}}})-[a:ACTIONS]->(t:Task)
    WHERE {_claimable(v['protocols'])}
    WITH t, t.priority AS priority, log(1.0 - rand()) / a.weight AS sample_key
    ORDER BY priority, sample_key DESC
    LIMIT $limit
    RETURN collect(t._scoped_key) AS {name}
}}
"""


def _registration(v: dict[str, str], carry: str = "", candidates: str = "candidates") -> str:
    """Whether the service is (still) registered, and to whom, beside its candidates."""
    return f"""
OPTIONAL MATCH (csr:ComputeServiceRegistration {{identifier: {v['compute_service_id']}}})
WITH {candidates} AS candidates, csr IS NOT NULL AS registered, csr.owner AS owner{carry}
"""


def _candidate_read(v: dict[str, str]) -> str:
    return _scan(v) + _registration(v)


_CANDIDATES = _candidate_read(_PARAMETERS) + "RETURN registered, candidates"


# Locks: the service's own registration first (as deregistration and expiry do), then the Tasks
# in ScopedKey order, so claimers, and a claimer and its deregistration, never deadlock; the
# status counters of the claimed Tasks' Transformations last (statuscounts.py).
def _claim_statement(tasks: str, v: dict[str, str] = _PARAMETERS, carry: str = "") -> str:
    """The conditional claim of the Task ScopedKeys in the list expression ``tasks``."""
    return f"""
MATCH (csr:ComputeServiceRegistration {{identifier: {v['compute_service_id']}}})
SET csr._claim_lock = true
REMOVE csr._claim_lock
WITH csr{carry}
UNWIND {tasks} AS task_sk
WITH csr, task_sk{carry} ORDER BY task_sk
CALL {{
    WITH csr, task_sk{carry}
    MATCH (t:GufeTokenizable:Task {{_scoped_key: task_sk}})
    USING INDEX t:GufeTokenizable(_scoped_key)
    SET t._claim_lock = true
    REMOVE t._claim_lock
    WITH csr, t{carry}
    MATCH (:GufeTokenizable:TaskHub {{_scoped_key: {v['taskhub']}}})-[a:ACTIONS]->(t)
    WHERE {_claimable(v['protocols'])}
    WITH t, csr{carry}, COUNT {{ (t)-[:ATTEMPTED]->(:TaskAttempt) }} AS previous_attempts
    CREATE (csr)-[:CLAIMS {{claimed: $now}}]->(t)
    CREATE (t)-[:ATTEMPTED]->(:TaskAttempt {{
        number: previous_attempts + 1, compute_service_id: {v['compute_service_id']}, claimed: $now,
        ended: null, outcome: null, result_ref: null
    }})
    SET t.status = 'running', t.claim = {v['compute_service_id']}
    WITH t
    OPTIONAL MATCH (t)-[:PERFORMS]->(tf)
    RETURN t._scoped_key AS claimed, tf._scoped_key AS transformation
}}
WITH collect(claimed) AS claimed, collect({{tf: transformation, from: 'waiting', to: 'running'}}) AS moves
{COUNT_MOVES}
UNWIND claimed AS task
RETURN task AS claimed
"""


_CLAIM = _claim_statement("$tasks")


def _claim_chosen(v: dict[str, str], carry: str = "") -> str:
    """If the service is registered (to the owner, unless that is null), claim the first ``wanted``
    candidates; the caller falls back on the spares only when another claimer won one of those."""
    return f"""
WITH candidates, registered, owner{carry},
     CASE WHEN registered AND ({v['owner']} IS NULL OR owner = {v['owner']})
          THEN candidates[..{v['wanted']}] ELSE [] END AS chosen
OPTIONAL CALL (chosen{carry}) {{
    {_claim_statement("chosen", v, carry)}
}}
RETURN registered, owner, candidates, collect(claimed) AS claimed
"""


# The usual claim in one statement, so one transaction.
_READ_AND_CLAIM = _candidate_read(_PARAMETERS) + _claim_chosen(_PARAMETERS)

# Several claims in one statement. Claims on the same TaskHub with the same Protocols form a group
# that reads the hub once, as the list ``pool``: each claim's first choices are the next ``wanted``
# of it (r.first), its spares a slice of its own after all the first choices (r.spare), so the
# claims of a group never choose the same Task. The claims then run one after the other.
_READ_AND_CLAIM_BATCH = f"""
UNWIND $groups AS g
{_scan(_BATCHED, "g", "pool")}
UNWIND g.requests AS r
CALL (r, g, pool) {{
    {_registration(_BATCHED, ", r, g", "pool[r.first..r.first + r.wanted] + pool[r.spare..r.spare + r.spares]")}
    {_claim_chosen(_BATCHED, ", r, g")}
}}
RETURN r.index AS index, registered, owner, candidates, claimed
"""

_HISTORY = """
MATCH (t:GufeTokenizable:Task {_scoped_key: $task})
OPTIONAL MATCH (t)-[:ATTEMPTED]->(att:TaskAttempt)
RETURN att ORDER BY att.number
"""


class UnregisteredComputeServiceError(NotFoundError):
    """A compute service that is not (or no longer) registered tried to act on Tasks."""


def scoped_key_str(value: ScopedKeyLike) -> str:
    """Validate a ScopedKey (or its string form) and return the string stored in the graph."""
    return str(as_scoped_key(value))


@dataclass(frozen=True)
class ClaimRequest:
    """One claim of up to ``count`` Tasks of a TaskHub, as ``claim_taskhub_tasks`` takes it."""

    taskhub: ScopedKeyLike
    compute_service_id: Union[ComputeServiceID, str]
    count: int = 1
    protocols: Optional[Sequence[str]] = None
    owner: Optional[str] = None


def _claim_params(request: ClaimRequest) -> dict[str, Any]:
    return {
        "taskhub": scoped_key_str(request.taskhub),
        "compute_service_id": str(ComputeServiceID(request.compute_service_id)),
        "protocols": list(request.protocols) if request.protocols is not None else None,
        "wanted": request.count,
        "owner": request.owner,
    }


class ClaimsMixin:
    def claim_taskhub_tasks(
        self,
        taskhub: ScopedKeyLike,
        compute_service_id: Union[ComputeServiceID, str],
        count: int = 1,
        protocols: Optional[Sequence[str]] = None,
        owner: Optional[str] = None,
    ) -> list[Optional[ScopedKey]]:
        """Claim up to ``count`` Tasks of a TaskHub for a registered compute service.

        Returns a list of length ``count``: the ScopedKeys of the Tasks really claimed, padded
        with ``None``. Raises ``UnregisteredComputeServiceError`` if the service is not
        registered (upstream returned keys it never claimed), and ``ForbiddenError`` if ``owner``
        is given and another identity registered it; a TaskHub that does not exist simply yields
        nothing to claim. ``count`` and ``protocols`` are trusted: the compute API's
        request bodies (``compute/bodies.py``) validate them.

        Uncontended, this is one statement (candidates read and the first ones claimed); a claimer
        that lost some of its first choices falls back on its spares, then on fresh reads.
        """
        params = _claim_params(ClaimRequest(taskhub, compute_service_id, count, protocols, owner))
        record = self.execute_query(
            _READ_AND_CLAIM, {**params, "limit": CANDIDATES_PER_CLAIM * count, "now": utcnow()}
        )[0]
        return self._settle_claim(params, record)

    def claim_taskhub_tasks_batch(
        self, requests: Sequence[ClaimRequest]
    ) -> list[Union[list[Optional[ScopedKey]], StoreError]]:
        """Several claims in one statement, so one transaction: what ``claim_taskhub_tasks`` would
        return for each request, in order, or the error it would raise (given back, not raised).

        The claims run one after the other inside the statement, so none takes a Task an earlier one
        took; one lost to a claimer outside the batch falls back on its spares as a single claim does.
        """
        params = [_claim_params(request) for request in requests]
        groups: dict[tuple, list[int]] = {}
        for i, p in enumerate(params):
            protocols = None if p["protocols"] is None else tuple(p["protocols"])
            groups.setdefault((p["taskhub"], protocols), []).append(i)
        rows, limit = [], 0
        for members in groups.values():
            first, spare, requests_of_group = 0, sum(params[i]["wanted"] for i in members), []
            for i in members:
                wanted = params[i]["wanted"]
                spares = (CANDIDATES_PER_CLAIM - 1) * wanted
                requests_of_group.append({**params[i], "index": i, "first": first, "spare": spare, "spares": spares})
                first, spare = first + wanted, spare + spares
            rows.append({"taskhub": params[members[0]]["taskhub"], "protocols": params[members[0]]["protocols"],
                         "requests": requests_of_group})
            limit = max(limit, spare)
        records = self.execute_query(_READ_AND_CLAIM_BATCH, {"groups": rows, "limit": limit, "now": utcnow()})
        by_index = {record["index"]: record for record in records}
        answers: list[Union[list[Optional[ScopedKey]], StoreError]] = [[] for _ in params]
        for members in groups.values():
            refused = False  # a refused claim leaves its first choices to no one in its group
            for i in members:
                try:
                    answers[i] = self._settle_claim(params[i], by_index[i], reread=refused)
                except StoreError as e:
                    answers[i], refused = e, True
        return answers

    def _settle_claim(self, params: dict[str, Any], record: Any, reread: bool = False) -> list[Optional[ScopedKey]]:
        """The answer to a claim from the record of its first statement: its errors, else the Tasks
        it won there, topped up from the spares and fresh reads where other claimers won some.

        With ``reread``, a claim that came back short reads the hub again at least once: in a batch,
        a claim refused before it in its group left first choices that no one took.
        """
        count = params["wanted"]
        if not record["registered"]:
            raise UnregisteredComputeServiceError(
                f"compute service {params['compute_service_id']} is not registered (it may have expired); "
                "register it before claiming"
            )
        if params["owner"] is not None and record["owner"] != params["owner"]:
            raise ForbiddenError(
                f"compute service {params['compute_service_id']} was registered by another compute identity; "
                "only that identity may act on it"
            )
        candidates: list[str] = record["candidates"]
        taken = set(record["claimed"])
        claimed = [task for task in candidates[:count] if task in taken]  # in preference order
        if len(claimed) < count:
            claimed += self._claim_in_order(params, candidates[count:], count - len(claimed))
        for round in range(MAX_CLAIM_ROUNDS - 1):
            exhausted = len(candidates) < CANDIDATES_PER_CLAIM * (count - len(claimed))
            if len(claimed) >= count or (exhausted and not (reread and round == 0)):
                break  # done, or the hub held no more candidates than were just tried
            wanted = count - len(claimed)
            record = self.execute_query(_CANDIDATES, {**params, "limit": CANDIDATES_PER_CLAIM * wanted})[0]
            if not record["registered"]:
                break  # the registration expired while we were claiming
            candidates = record["candidates"]
            if not candidates:
                break
            claimed += self._claim_in_order(params, candidates, wanted)
        result: list[Optional[ScopedKey]] = [ScopedKey.from_str(sk) for sk in claimed]
        return result + [None] * (count - len(result))

    def _claim_in_order(self, params: dict[str, Any], candidates: list[str], wanted: int) -> list[str]:
        """Claim up to ``wanted`` of ``candidates``, most preferred first, falling back on the
        spares for those lost to other claimers; returns the Tasks won, in preference order."""
        won: list[str] = []
        while candidates and len(won) < wanted:
            chosen, candidates = candidates[: wanted - len(won)], candidates[wanted - len(won):]
            taken = {r["claimed"] for r in self.execute_query(_CLAIM, {**params, "tasks": chosen, "now": utcnow()})}
            # keep the preference order of the selection, not the locking order
            won.extend(task for task in chosen if task in taken)
        return won

    def get_task_history(self, task: ScopedKeyLike) -> list[dict[str, Any]]:
        """Every claim of a Task, oldest first: who ran it, when, and how the attempt ended."""
        records = self.execute_query(_HISTORY, {"task": scoped_key_str(task)})
        if not records:
            raise NotFoundError(f"no Task {task} in the state store")
        history = []
        for record in records:
            if record["att"] is None:
                continue
            attempt = dict(record["att"])
            history.append(
                {
                    "number": attempt["number"],
                    "compute_service_id": attempt["compute_service_id"],
                    "claimed": to_native(attempt["claimed"]),
                    "ended": to_native(attempt.get("ended")),
                    "outcome": attempt.get("outcome"),
                    "result_ref": (
                        ScopedKey.from_str(attempt["result_ref"]) if attempt.get("result_ref") else None
                    ),
                }
            )
        return history
