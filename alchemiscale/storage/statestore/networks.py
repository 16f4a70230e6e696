"""State store: ingesting keyed chains, retrieving them, network state and network deletion."""

from __future__ import annotations

import json
from typing import Optional, Union

from ...errors import ConflictError, InvalidInputError, NotFoundError
from ...serialization.keyedchain import KeyedChain, topological_chain
from ...models import Scope, ScopedKey
from ..models import NetworkMark, NetworkStateEnum, TaskHub
from .chaingraph import NETWORK_QUALNAME, ChainRows, chain_rows, validate_transformations
from .queries import NetworkQueriesMixin
from .scoping import (
    ScopedKeyLike,
    as_scope,
    as_scoped_key,
    as_scoped_keys,
    node_props,
    ordered,
    require_specific,
    scope_filter,
)
from .statuscounts import delete_counters
from .taskhubs import TaskHubsMixin

_EXISTING_NODES = """
UNWIND $sks AS sk
MATCH (n:GufeTokenizable {_scoped_key: sk})
USING INDEX n:GufeTokenizable(_scoped_key)
RETURN n._scoped_key AS sk, n._content_hash AS hash
"""

# MERGE keeps concurrent submissions of the same object safe; a differing hash after MERGE means
# another transaction stored different content under the key in the meantime.
_MERGE_NODES = """
UNWIND $rows AS row
MERGE (n:GufeTokenizable {_scoped_key: row.sk})
ON CREATE SET n:$(row.label), n += row.props
WITH n, row
WHERE n._content_hash <> row.hash
RETURN row.sk AS sk
"""

_MERGE_EDGES = """
UNWIND $edges AS e
MATCH (a:GufeTokenizable {_scoped_key: e.src})
USING INDEX a:GufeTokenizable(_scoped_key)
MATCH (b:GufeTokenizable {_scoped_key: e.dst})
USING INDEX b:GufeTokenizable(_scoped_key)
MERGE (a)-[r:DEPENDS_ON {path: e.path}]->(b)
ON CREATE SET r += e.props
"""

_MERGE_HUB_AND_MARK = """
MATCH (an:GufeTokenizable:AlchemicalNetwork {_scoped_key: $network})
MERGE (th:GufeTokenizable:TaskHub {_scoped_key: $taskhub._scoped_key})
ON CREATE SET th += $taskhub
MERGE (th)-[:PERFORMS]->(an)
MERGE (m:GufeTokenizable:NetworkMark {_scoped_key: $mark._scoped_key})
ON CREATE SET m += $mark
SET m.state = $state
MERGE (m)-[:MARKS]->(an)
"""

_KEYED_CHAIN = """
MATCH (root:GufeTokenizable {_scoped_key: $sk})
WHERE root._json IS NOT NULL
CALL (root) {
    MATCH (root)-[:DEPENDS_ON*0..]->(n)
    RETURN DISTINCT n
}
RETURN n._gufe_key AS key, n._json AS json
"""

# Every object the network reaches, with the objects pointing at it: whatever has a parent
# outside this set is still used by something else and must survive the deletion.
_DELETION_CANDIDATES = """
MATCH (an:GufeTokenizable:AlchemicalNetwork {_scoped_key: $network})
CALL (an) {
    MATCH (an)-[:DEPENDS_ON*0..]->(n)
    RETURN DISTINCT n
}
OPTIONAL MATCH (parent:GufeTokenizable)-[:DEPENDS_ON]->(n)
WITH n, collect(DISTINCT parent._scoped_key) AS parents
OPTIONAL MATCH (n)-[:DEPENDS_ON]->(child:GufeTokenizable)
RETURN n._scoped_key AS sk, parents, collect(DISTINCT child._scoped_key) AS children
"""

_DELETE_HUB_AND_MARK = """
MATCH (an:GufeTokenizable:AlchemicalNetwork {_scoped_key: $network})
OPTIONAL MATCH (th:TaskHub)-[:PERFORMS]->(an)
OPTIONAL MATCH (p:TaskRestartPattern)-[:ENFORCES]->(th)
OPTIONAL MATCH (m:NetworkMark)-[:MARKS]->(an)
OPTIONAL MATCH (s:Strategy)-[:PROGRESSES]->(an)
WHERE NOT EXISTS { (s)-[:PROGRESSES]->(other) WHERE other <> an } AND NOT EXISTS { ()-[:DEPENDS_ON]->(s) }
WITH collect(DISTINCT th) + collect(DISTINCT p) + collect(DISTINCT m) + collect(DISTINCT s) AS doomed
FOREACH (x IN doomed | DETACH DELETE x)
"""

_DELETE_TASKS = """
UNWIND $sks AS sk
MATCH (tf:GufeTokenizable {_scoped_key: sk})<-[:PERFORMS]-(t:Task)
USING INDEX tf:GufeTokenizable(_scoped_key)
OPTIONAL MATCH (t)-[:RESULTS_IN]->(ref:ProtocolDAGResultRef)
OPTIONAL MATCH (tb:Tracebacks)-[:DETAILS]->(ref)
OPTIONAL MATCH (t)-[:ATTEMPTED]->(attempt:TaskAttempt)
WITH collect(DISTINCT t) AS tasks, collect(DISTINCT ref) AS refs,
     collect(DISTINCT tb) AS tracebacks, collect(DISTINCT attempt) AS attempts
FOREACH (x IN tasks + refs + tracebacks + attempts | DETACH DELETE x)
RETURN size(tasks) AS tasks, size(refs) AS results
"""

_DELETE_OBJECTS = """
UNWIND $sks AS sk
MATCH (n:GufeTokenizable {_scoped_key: sk})
USING INDEX n:GufeTokenizable(_scoped_key)
DETACH DELETE n
"""


def check_network_state(state: str) -> str:
    try:
        return NetworkStateEnum(state).value
    except ValueError:
        allowed = ", ".join(s.value for s in NetworkStateEnum)
        raise InvalidInputError(f"invalid network state {state!r}; expected one of: {allowed}") from None


class NetworksMixin(NetworkQueriesMixin, TaskHubsMixin):
    """Keyed chains in, keyed chains out; every network comes with its TaskHub and NetworkMark."""

    # -- ingestion ----------------------------------------------------------------------

    def assemble_network(
        self, network: list, scope: Union[Scope, str], state: str = NetworkStateEnum.active
    ) -> tuple[ScopedKey, ScopedKey, ScopedKey]:
        """Store an AlchemicalNetwork keyed chain with its TaskHub and NetworkMark in one transaction.

        Objects already present in the Scope with the same content are shared; the same key with
        different content raises ConflictError and nothing is written.
        """
        scope = require_specific(as_scope(scope))
        state = check_network_state(state)
        chain = KeyedChain.from_json(network)
        if chain.root.qualname != NETWORK_QUALNAME:
            raise InvalidInputError(
                f"the root of a network keyed chain must be an {NETWORK_QUALNAME}, got {chain.root.qualname} "
                f"({chain.root.key})"
            )
        validate_transformations(chain)
        rows = chain_rows(chain, scope)
        network_sk = rows.root
        taskhub = TaskHub(network=str(network_sk)).scoped_key(scope)
        mark = NetworkMark(target=str(network_sk), state=state).scoped_key(scope)

        def assemble(tx) -> None:
            self._write_chain_rows(tx, rows)
            tx.run(
                _MERGE_HUB_AND_MARK,
                network=str(network_sk),
                taskhub={**node_props(taskhub), "network": str(network_sk), "weight": 0.5},
                mark={**node_props(mark), "target": str(network_sk)},
                state=state,
            ).consume()

        self.write_transaction(assemble)
        return network_sk, taskhub, mark

    def add_keyed_chain(self, chain: list, scope: Union[Scope, str]) -> ScopedKey:
        """Store any gufe object other than a network (e.g. a lone Transformation); returns its ScopedKey."""
        scope = require_specific(as_scope(scope))
        validated = KeyedChain.from_json(chain)
        if validated.root.qualname == NETWORK_QUALNAME:
            raise InvalidInputError("an AlchemicalNetwork needs a TaskHub and NetworkMark: use assemble_network")
        validate_transformations(validated)
        rows = chain_rows(validated, scope)
        self.write_transaction(lambda tx: self._write_chain_rows(tx, rows))
        return rows.root

    def _write_chain_rows(self, tx, rows: ChainRows) -> None:
        """Three statements however large the chain: look up existing keys, merge new nodes, merge their edges."""
        existing = {r["sk"]: r["hash"] for r in tx.run(_EXISTING_NODES, sks=rows.scoped_keys)}
        conflicts = [n["sk"] for n in rows.nodes if n["sk"] in existing and existing[n["sk"]] != n["hash"]]
        if conflicts:
            raise _conflict(conflicts)
        new_nodes = [n for n in rows.nodes if n["sk"] not in existing]
        if not new_nodes:
            return
        raced = [r["sk"] for r in tx.run(_MERGE_NODES, rows=new_nodes)]
        if raced:
            raise _conflict(raced)
        new_keys = {n["sk"] for n in new_nodes}
        edges = [e for e in rows.edges if e["src"] in new_keys]
        if edges:
            tx.run(_MERGE_EDGES, edges=edges).consume()

    # -- retrieval ----------------------------------------------------------------------

    def get_keyed_chain(self, scoped_key: ScopedKeyLike) -> list[list]:
        """The stored object as a keyed chain (dependencies first), from one query."""
        sk = as_scoped_key(scoped_key)
        records = self.execute_query(_KEYED_CHAIN, {"sk": str(sk)})
        if not records:
            raise NotFoundError(f"no gufe object with ScopedKey {sk} in the state store")
        return topological_chain({r["key"]: json.loads(r["json"]) for r in records})

    def check_existence(self, scoped_key: ScopedKeyLike) -> bool:
        sk = as_scoped_key(scoped_key)
        records = self.execute_query(
            "OPTIONAL MATCH (n:GufeTokenizable {_scoped_key: $sk}) RETURN n IS NOT NULL AS found", {"sk": str(sk)}
        )
        return bool(records[0]["found"])

    def get_scoped_key(self, gufe_key: str, scope: Union[Scope, str]) -> ScopedKey:
        """The ScopedKey of the object with ``gufe_key`` in ``scope`` (KeyError if absent, error if ambiguous)."""
        scope = as_scope(scope)
        where, params = scope_filter("n", scope)
        records = self.execute_query(
            f"MATCH (n:GufeTokenizable {{_gufe_key: $key}}) WHERE {where} RETURN n._scoped_key AS sk",
            {"key": str(gufe_key), **params},
        )
        if not records:
            raise NotFoundError(f"no object with gufe key {gufe_key!r} in Scope {scope}")
        if len(records) > 1:
            raise InvalidInputError(
                f"gufe key {gufe_key!r} exists in {len(records)} Scopes matching {scope}; give a specific Scope"
            )
        return ScopedKey.from_str(records[0]["sk"])

    # -- network state ------------------------------------------------------------------

    def get_network_state(self, networks: list[ScopedKeyLike]) -> list[Optional[str]]:
        keys = as_scoped_keys(networks)
        records = self.execute_query(
            """
            UNWIND $sks AS sk
            MATCH (m:NetworkMark)-[:MARKS]->(an:GufeTokenizable:AlchemicalNetwork {_scoped_key: sk})
            USING INDEX an:GufeTokenizable(_scoped_key)
            RETURN sk, m.state AS state
            """,
            {"sks": [str(k) for k in keys]},
        )
        return ordered(keys, {r["sk"]: r["state"] for r in records})

    def set_network_state(self, networks: list[ScopedKeyLike], states: list[str]) -> list[Optional[ScopedKey]]:
        """Set each network's state; None for networks that do not exist."""
        keys = as_scoped_keys(networks)
        states = [check_network_state(s) for s in states]
        if len(keys) != len(states):
            raise InvalidInputError(f"got {len(keys)} networks but {len(states)} states; they must match one to one")
        records = self.execute_query(
            """
            UNWIND $rows AS row
            MATCH (m:NetworkMark)-[:MARKS]->(an:GufeTokenizable:AlchemicalNetwork {_scoped_key: row.sk})
            USING INDEX an:GufeTokenizable(_scoped_key)
            SET m.state = row.state
            RETURN row.sk AS sk
            """,
            {"rows": [{"sk": str(k), "state": s} for k, s in zip(keys, states)]},
        )
        found = {r["sk"] for r in records}
        return [k if str(k) in found else None for k in keys]

    # -- deletion -----------------------------------------------------------------------

    def delete_network(self, network: ScopedKeyLike) -> dict[str, int]:
        """Remove a network, its TaskHub, NetworkMark and Strategy, and every object and Task nothing else uses.

        Objects still reached from another network (or any other stored object) stay, with their
        Tasks and results. Returns how many objects, Tasks and results were deleted.
        """
        sk = as_scoped_key(network)

        def delete(tx) -> dict[str, int]:
            records = list(tx.run(_DELETION_CANDIDATES, network=str(sk)))
            if not records:
                raise NotFoundError(f"no AlchemicalNetwork with ScopedKey {sk} in the state store")
            doomed = _unshared(str(sk), records)
            tx.run(_DELETE_HUB_AND_MARK, network=str(sk)).consume()
            counts = tx.run(_DELETE_TASKS, sks=doomed).single()
            delete_counters(tx, doomed)
            tx.run(_DELETE_OBJECTS, sks=doomed).consume()
            return {"objects": len(doomed), "tasks": counts["tasks"], "results": counts["results"]}

        return self.write_transaction(delete)


def _unshared(root: str, records) -> list[str]:
    """Objects reached from ``root`` that no object outside its reach leads to (directly or not)."""
    reach = {r["sk"]: r for r in records}
    kept_roots = [sk for sk, r in reach.items() if sk != root and any(p not in reach for p in r["parents"])]
    kept: set[str] = set()
    stack = list(kept_roots)
    while stack:
        sk = stack.pop()
        if sk in kept:
            continue
        kept.add(sk)
        stack.extend(c for c in reach[sk]["children"] if c in reach)
    return [sk for sk in reach if sk not in kept]


def _conflict(keys: list[str]) -> ConflictError:
    shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    return ConflictError(
        f"already stored with different content: {shown}; an object's key must identify its content, "
        "so this submission was rejected and nothing was written"
    )
