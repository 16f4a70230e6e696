"""Task methods of the user client: creating, listing, actioning, status, priority, restart patterns, history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Optional, Union

import networkx as nx

from ..base.client import AlchemiscaleBaseClient
from ..models import MAX_INT64, Scope, ScopedKey
from ..storage.models import TaskStatusEnum
from .client_common import (
    ScopedKeyLike,
    as_scoped_key,
    as_scoped_keys,
    network_scoped_key_alias,
    optional_scoped_key,
    optional_scoped_keys,
    wire_keys,
)


def _status_value(status: Union[TaskStatusEnum, str]) -> str:
    try:
        return TaskStatusEnum(status).value
    except ValueError:
        options = ", ".join(s.value for s in TaskStatusEnum)
        raise ValueError(f"unknown Task status {status!r}; expected one of {options}") from None


def _weights_or_keys(payload: Any, task_weights: bool) -> Union[dict[ScopedKey, float], list[ScopedKey]]:
    if task_weights:
        return {as_scoped_key(key): weight for key, weight in payload.items()}
    return as_scoped_keys(payload)


def _parse_time(value: Optional[str]) -> Optional[datetime]:
    return None if value is None else datetime.fromisoformat(value)


class TasksMixin(AlchemiscaleBaseClient):
    """Task methods of :class:`~alchemiscale.interface.client.AlchemiscaleClient`."""

    # -- creating and listing ---------------------------------------------------------------------

    def create_tasks(
        self, transformation: ScopedKeyLike, extends: Optional[ScopedKeyLike] = None, count: int = 1
    ) -> list[ScopedKey]:
        """Create ``count`` Tasks performing ``transformation`` (each extending ``extends`` if given).

        New Tasks are ``waiting`` but not actioned: use :meth:`action_tasks` to have them run.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        tf = as_scoped_key(transformation)
        data = {"extends": None if extends is None else str(as_scoped_key(extends)), "count": count}
        return as_scoped_keys(self._post_resource(f"/transformations/{tf}/tasks", data))

    def create_transformations_tasks(
        self,
        transformations: Sequence[ScopedKeyLike],
        extends: Optional[Sequence[Optional[ScopedKeyLike]]] = None,
    ) -> list[ScopedKey]:
        """One Task per item of ``transformations`` (repeat a key for several), in one request.

        ``extends``, if given, holds for each item the Task to extend, or ``None``.
        """
        keys = wire_keys(transformations)
        extends_keys = None
        if extends is not None:
            if len(extends) != len(keys):
                raise ValueError(
                    f"extends must have one item per transformation: got {len(extends)} for {len(keys)}"
                )
            extends_keys = [None if e is None else str(as_scoped_key(e)) for e in extends]
        data = {"transformations": keys, "extends": extends_keys}
        return as_scoped_keys(self._post_resource("/bulk/transformations/tasks/create", data))

    def query_tasks(
        self, scope: Optional[Scope] = None, status: Optional[Union[TaskStatusEnum, str]] = None
    ) -> list[ScopedKey]:
        """Tasks visible to you within ``scope`` (default: all), optionally only those with ``status``."""
        scope = scope or Scope()
        params = {**scope.to_dict(), "status": None if status is None else _status_value(status)}
        return self._query_resource("/tasks", params)

    def get_network_tasks(
        self, network: ScopedKeyLike, status: Optional[Union[TaskStatusEnum, str]] = None
    ) -> list[ScopedKey]:
        """Tasks of every Transformation in a network, optionally only those with ``status``."""
        params = {"status": None if status is None else _status_value(status)}
        return self._query_resource(f"/networks/{as_scoped_key(network)}/tasks", params)

    def get_task_networks(self, task: ScopedKeyLike) -> list[ScopedKey]:
        """Networks containing the Transformation a Task performs."""
        return self._query_resource(f"/tasks/{as_scoped_key(task)}/networks")

    def get_transformation_tasks(
        self,
        transformation: ScopedKeyLike,
        extends: Optional[ScopedKeyLike] = None,
        return_as: Literal["list", "graph"] = "list",
        status: Optional[Union[TaskStatusEnum, str]] = None,
    ) -> Union[list[ScopedKey], nx.DiGraph]:
        """Tasks of a Transformation (only those extending ``extends``, transitively, if given).

        ``return_as="graph"`` gives a ``networkx.DiGraph`` of the Tasks with an edge from each Task
        to the Task it extends.
        """
        if return_as not in ("list", "graph"):
            raise ValueError(f"return_as must be 'list' or 'graph', got {return_as!r}")
        params = {
            "extends": None if extends is None else as_scoped_key(extends),
            "return_as": return_as,
            "status": None if status is None else _status_value(status),
        }
        payload = self._get_resource(f"/transformations/{as_scoped_key(transformation)}/tasks", params)
        if return_as == "list":
            return as_scoped_keys(payload)
        graph = nx.DiGraph()
        for task, extended in payload.items():
            graph.add_node(as_scoped_key(task))
            if extended is not None:
                graph.add_edge(as_scoped_key(task), as_scoped_key(extended))
        return graph

    def get_task_transformation(self, task: ScopedKeyLike) -> ScopedKey:
        """The Transformation a Task performs."""
        return as_scoped_key(self._get_resource(f"/tasks/{as_scoped_key(task)}/transformation"))

    # -- actioning --------------------------------------------------------------------------------

    def action_tasks(
        self,
        tasks: Sequence[ScopedKeyLike],
        network: ScopedKeyLike,
        weight: Optional[Union[float, Sequence[float]]] = None,
    ) -> list[Optional[ScopedKey]]:
        """Put Tasks on a network's TaskHub so compute services can claim them.

        Newly actioned Tasks get weight 0.5 unless ``weight`` (one number, or one per Task) is given;
        an explicit weight also re-weights Tasks that were already actioned. Returns, per Task, its
        ScopedKey if it is actioned now, or ``None`` (unknown, finished, invalid or deleted Tasks).
        """
        keys = as_scoped_keys(tasks)
        if weight is not None and not isinstance(weight, (int, float)):
            weight = list(weight)
            if len(weight) != len(keys):
                raise ValueError(f"weight must be one number or one per Task: got {len(weight)} for {len(keys)}")
        data = {"tasks": [str(key) for key in keys], "weight": weight}
        return optional_scoped_keys(self._post_resource(f"/networks/{as_scoped_key(network)}/tasks/action", data))

    def cancel_tasks(self, tasks: Sequence[ScopedKeyLike], network: ScopedKeyLike) -> list[Optional[ScopedKey]]:
        """Take Tasks off a network's TaskHub; ``None`` for Tasks that were not actioned there."""
        data = {"tasks": wire_keys(tasks)}
        return optional_scoped_keys(self._post_resource(f"/networks/{as_scoped_key(network)}/tasks/cancel", data))

    def get_network_actioned_tasks(
        self, network: ScopedKeyLike, task_weights: bool = False
    ) -> Union[dict[ScopedKey, float], list[ScopedKey]]:
        """Tasks actioned on a network: a list, or ``{task: weight}`` with ``task_weights=True``."""
        payload = self._post_resource(
            f"/networks/{as_scoped_key(network)}/tasks/actioned", {"task_weights": task_weights}
        )
        return _weights_or_keys(payload, task_weights)

    def get_networks_actioned_tasks(
        self, networks: Sequence[ScopedKeyLike], task_weights: bool = False
    ) -> list[Union[dict[ScopedKey, float], list[ScopedKey]]]:
        """:meth:`get_network_actioned_tasks` for many networks in one request."""
        payload = self._post_resource(
            "/bulk/networks/tasks/actioned", {"networks": wire_keys(networks), "task_weights": task_weights}
        )
        return [_weights_or_keys(item, task_weights) for item in payload]

    def get_task_actioned_networks(
        self, task: ScopedKeyLike, task_weights: bool = False
    ) -> Union[dict[ScopedKey, float], list[ScopedKey]]:
        """Networks on which a Task is actioned: a list, or ``{network: weight}``."""
        payload = self._post_resource(
            f"/tasks/{as_scoped_key(task)}/networks/actioned", {"task_weights": task_weights}
        )
        return _weights_or_keys(payload, task_weights)

    # -- status and priority (bulk) ---------------------------------------------------------------

    def set_tasks_status(
        self, tasks: Sequence[ScopedKeyLike], status: Union[TaskStatusEnum, str], batch_size: int = 1000
    ) -> list[Optional[ScopedKey]]:
        """Set the status of many Tasks; users may set ``waiting``, ``invalid`` or ``deleted``.

        ``invalid`` and ``deleted`` are final and also apply to every Task extending these. Returns
        ``None`` for each Task whose status could not change (or that you may not see).
        """
        value = _status_value(status)
        keys = as_scoped_keys(tasks)

        async def set_batch(batch: list[ScopedKey]) -> list[Optional[ScopedKey]]:
            data = {"tasks": [str(key) for key in batch], "status": value}
            return optional_scoped_keys(await self._post_resource_async("/bulk/tasks/status/set", data))

        return self._bulk(set_batch, keys, batch_size)

    def get_tasks_status(
        self, tasks: Sequence[ScopedKeyLike], batch_size: int = 1000
    ) -> list[Optional[str]]:
        """The status of each Task (``None`` if unknown or not visible to you)."""
        keys = as_scoped_keys(tasks)

        async def get_batch(batch: list[ScopedKey]) -> list[Optional[str]]:
            return await self._post_resource_async("/bulk/tasks/status/get", {"tasks": [str(key) for key in batch]})

        return self._bulk(get_batch, keys, batch_size)

    def set_tasks_priority(
        self, tasks: Sequence[ScopedKeyLike], priority: int, batch_size: int = 1000
    ) -> list[Optional[ScopedKey]]:
        """Give all ``tasks`` the same ``priority`` (1 is claimed first; default for new Tasks is 10)."""
        if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= MAX_INT64:
            raise ValueError(f"priority must be an integer between 1 and 2**63 - 1, got {priority!r}")
        keys = as_scoped_keys(tasks)

        async def set_batch(batch: list[ScopedKey]) -> list[Optional[ScopedKey]]:
            data = {"tasks": [str(key) for key in batch], "priority": priority}
            return optional_scoped_keys(await self._post_resource_async("/bulk/tasks/priority/set", data))

        return self._bulk(set_batch, keys, batch_size)

    def get_tasks_priority(self, tasks: Sequence[ScopedKeyLike], batch_size: int = 1000) -> list[Optional[int]]:
        """The priority of each Task (``None`` if unknown or not visible to you)."""
        keys = as_scoped_keys(tasks)

        async def get_batch(batch: list[ScopedKey]) -> list[Optional[int]]:
            return await self._post_resource_async(
                "/bulk/tasks/priority/get", {"tasks": [str(key) for key in batch]}
            )

        return self._bulk(get_batch, keys, batch_size)

    # -- restart patterns -------------------------------------------------------------------------
    # Each method also takes its network as ``network_scoped_key=``, as upstream's client names it.

    @network_scoped_key_alias
    def add_task_restart_patterns(
        self, network: ScopedKeyLike, patterns: Sequence[str], num_allowed_restarts: int
    ) -> ScopedKey:
        """Restart errored Tasks of a network whose traceback matches one of the regex ``patterns``.

        Each Task is restarted at most ``num_allowed_restarts`` times per pattern; a Task whose
        failure matches no pattern (or has used its restarts) is cancelled from the network.
        """
        data = {"patterns": _patterns(patterns), "num_allowed_restarts": _restarts(num_allowed_restarts)}
        return self._restart_post(network, "add", data)

    @network_scoped_key_alias
    def get_task_restart_patterns(self, network: ScopedKeyLike) -> dict[str, int]:
        """``{pattern: allowed restarts}`` for a network."""
        sk = as_scoped_key(network)
        payload = self._post_resource("/bulk/networks/restartpatterns/get", {"networks": [str(sk)]})
        return {pattern: max_retries for pattern, max_retries in payload[str(sk)]}

    @network_scoped_key_alias
    def set_task_restart_patterns_allowed_restarts(
        self, network: ScopedKeyLike, patterns: Sequence[str], num_allowed_restarts: int
    ) -> ScopedKey:
        """Change how many restarts existing ``patterns`` allow."""
        data = {"patterns": _patterns(patterns), "max_retries": _restarts(num_allowed_restarts)}
        return self._restart_post(network, "maxretries", data)

    @network_scoped_key_alias
    def remove_task_restart_patterns(self, network: ScopedKeyLike, patterns: Sequence[str]) -> ScopedKey:
        return self._restart_post(network, "remove", {"patterns": _patterns(patterns)})

    @network_scoped_key_alias
    def clear_task_restart_patterns(self, network: ScopedKeyLike) -> ScopedKey:
        """Remove every restart pattern of a network."""
        return self._restart_post(network, "clear", {})

    def _restart_post(self, network: ScopedKeyLike, action: str, data: dict) -> ScopedKey:
        """Change a network's restart patterns; returns the network's ScopedKey, as upstream's ``add`` does."""
        sk = as_scoped_key(network)
        self._post_resource(f"/networks/{sk}/restartpatterns/{action}", data)
        return sk

    # -- history and tracebacks -------------------------------------------------------------------

    def get_task_history(self, task: ScopedKeyLike) -> list[dict[str, Any]]:
        """Every claim of a Task, oldest first.

        Each item: ``number``, ``compute_service_id``, ``claimed`` and ``ended`` (datetimes; ``ended``
        is ``None`` while running), ``outcome`` (``complete``, ``error``, or ``None``) and
        ``result_ref`` (ScopedKey of the uploaded result, or ``None``).
        """
        history = self._get_resource(f"/tasks/{as_scoped_key(task)}/history")
        return [
            {
                **attempt,
                "claimed": _parse_time(attempt.get("claimed")),
                "ended": _parse_time(attempt.get("ended")),
                "result_ref": optional_scoped_key(attempt.get("result_ref")),
            }
            for attempt in history
        ]

    def get_tasks_tracebacks(
        self, tasks: Sequence[ScopedKeyLike], batch_size: int = 1000
    ) -> list[Optional[list[dict[str, Any]]]]:
        """For each Task, the tracebacks of each of its failed results, without downloading results.

        ``None`` for a Task outside your scopes. Each item: ``result_ref``, ``datetime_created``, ``tracebacks``, ``source_keys``, ``failure_keys``.
        """
        keys = wire_keys(tasks)

        async def get_batch(batch: list[str]) -> list[Optional[list[dict[str, Any]]]]:
            return await self._post_resource_async("/bulk/tasks/tracebacks", {"tasks": batch})

        return [
            None
            if per_task is None
            else [
                {
                    **failure,
                    "result_ref": optional_scoped_key(failure.get("result_ref")),
                    "datetime_created": _parse_time(failure.get("datetime_created")),
                }
                for failure in per_task
            ]
            for per_task in self._bulk(get_batch, keys, batch_size)
        ]


def _patterns(patterns: Sequence[str]) -> list[str]:
    if isinstance(patterns, str) or not all(isinstance(p, str) and p for p in patterns):
        raise ValueError("patterns must be a list of non-empty regular expression strings")
    return list(patterns)


def _restarts(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"the number of allowed restarts must be a non-negative integer, got {value!r}")
    return value
