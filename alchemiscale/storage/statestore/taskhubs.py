"""State store: TaskHubs, the per-network queues compute services claim from."""

from __future__ import annotations

from typing import Optional, Union

from ...errors import InvalidInputError, NotFoundError
from ...models import Scope, ScopedKey
from ..models import TaskHub
from .scoping import ScopedKeyLike, as_scope, as_scoped_key, as_scoped_keys, check_weight, ordered, scope_filter

TaskHubResult = Union[ScopedKey, TaskHub]


def _taskhub_result(record, return_gufe: bool) -> TaskHubResult:
    if return_gufe:
        return TaskHub(network=record["network"], weight=record["weight"])
    return ScopedKey.from_str(record["sk"])


class TaskHubsMixin:
    def get_taskhub(self, network: ScopedKeyLike, return_gufe: bool = False) -> TaskHubResult:
        """The TaskHub of ``network`` (its ScopedKey, or the TaskHub model); KeyError if there is none."""
        sk = as_scoped_key(network)
        hub = self.get_taskhubs([sk], return_gufe=return_gufe)[0]
        if hub is None:
            raise NotFoundError(f"no TaskHub for network {sk} in the state store")
        return hub

    def get_taskhubs(self, networks: list[ScopedKeyLike], return_gufe: bool = False) -> list[Optional[TaskHubResult]]:
        keys = as_scoped_keys(networks)
        records = self.execute_query(
            """
            UNWIND $sks AS sk
            MATCH (th:TaskHub)-[:PERFORMS]->(an:GufeTokenizable:AlchemicalNetwork {_scoped_key: sk})
            USING INDEX an:GufeTokenizable(_scoped_key)
            RETURN sk AS network_sk, th._scoped_key AS sk, th.network AS network, th.weight AS weight
            """,
            {"sks": [str(k) for k in keys]},
        )
        return ordered(keys, {r["network_sk"]: _taskhub_result(r, return_gufe) for r in records})

    def query_taskhubs(
        self, scope: Union[Scope, str, None] = None, return_gufe: bool = False
    ) -> Union[list[ScopedKey], dict[ScopedKey, TaskHub]]:
        """Every TaskHub in ``scope``: a list of ScopedKeys, or ``{sk: TaskHub}`` with ``return_gufe``."""
        where, params = scope_filter("th", as_scope(scope))
        records = self.execute_query(
            f"""
            MATCH (th:TaskHub) WHERE {where}
            RETURN th._scoped_key AS sk, th.network AS network, th.weight AS weight
            ORDER BY sk
            """,
            params,
        )
        if return_gufe:
            return {ScopedKey.from_str(r["sk"]): _taskhub_result(r, True) for r in records}
        return [ScopedKey.from_str(r["sk"]) for r in records]

    def set_taskhub_weight(self, networks: list[ScopedKeyLike], weights: list[float]) -> list[Optional[ScopedKey]]:
        """Set the claim weight (0..1) of each network's TaskHub; None where the network has no TaskHub."""
        keys = as_scoped_keys(networks)
        weights = [check_weight(w, "TaskHub weight") for w in weights]
        if len(keys) != len(weights):
            raise InvalidInputError(f"got {len(keys)} networks but {len(weights)} weights; they must match one to one")
        records = self.execute_query(
            """
            UNWIND $rows AS row
            MATCH (th:TaskHub)-[:PERFORMS]->(an:GufeTokenizable:AlchemicalNetwork {_scoped_key: row.sk})
            USING INDEX an:GufeTokenizable(_scoped_key)
            SET th.weight = row.weight
            RETURN row.sk AS sk
            """,
            {"rows": [{"sk": str(k), "weight": w} for k, w in zip(keys, weights)]},
        )
        found = {r["sk"] for r in records}
        return [k if str(k) in found else None for k in keys]

    def get_taskhub_weight(self, networks: list[ScopedKeyLike]) -> list[Optional[float]]:
        hubs = self.get_taskhubs(networks, return_gufe=True)
        return [hub.weight if hub is not None else None for hub in hubs]

    def delete_taskhub(self, network: ScopedKeyLike) -> ScopedKey:
        """Remove a network's TaskHub with its ACTIONS and restart patterns; returns the TaskHub's ScopedKey."""
        sk = as_scoped_key(network)
        records = self.execute_query(
            """
            MATCH (th:TaskHub)-[:PERFORMS]->(:GufeTokenizable:AlchemicalNetwork {_scoped_key: $sk})
            OPTIONAL MATCH (p:TaskRestartPattern)-[:ENFORCES]->(th)
            WITH th, th._scoped_key AS taskhub, collect(p) AS patterns
            FOREACH (x IN patterns | DETACH DELETE x)
            DETACH DELETE th
            RETURN taskhub
            """,
            {"sk": str(sk)},
        )
        if not records:
            raise NotFoundError(f"no TaskHub for network {sk} in the state store")
        return ScopedKey.from_str(records[0]["taskhub"])
