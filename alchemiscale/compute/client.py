"""Clients of the compute API: one for compute services, one for compute managers.

gufe is imported only by the methods that build or take gufe objects, so a compute manager (or a
tool that only claims and reports) does not need the chemistry stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from ..base.client import AlchemiscaleBaseClient, AlchemiscaleClientError
from ..serialization.compression import RESULT_MEDIA_TYPE, latin1_to_bytes
from ..models import ComputeManagerID, ComputeServiceID, Scope, ScopedKey, ScopedKeyLike
from ..storage.models import ComputeManagerInstruction, ComputeManagerStatus, TaskHub

if TYPE_CHECKING:  # pragma: no cover
    from gufe import Transformation
    from gufe.protocols import ProtocolDAGResult

__all__ = ["AlchemiscaleComputeClient", "AlchemiscaleComputeManagerClient"]

API_NAME = "AlchemiscaleComputeAPI"


def _scoped_keys(items: Sequence[Optional[str]]) -> list[Optional[ScopedKey]]:
    return [ScopedKey.from_str(item) if item is not None else None for item in items]


def _scope_dicts(scopes: Optional[Sequence[Union[Scope, str]]]) -> Optional[list[dict]]:
    if scopes is None:
        return None
    return [(scope if isinstance(scope, Scope) else Scope.from_str(scope)).to_dict() for scope in scopes]


class AlchemiscaleComputeClient(AlchemiscaleBaseClient):
    """What a compute service needs: registration, heartbeats, claiming, inputs and results."""

    _api_name = API_NAME

    # -- registration ----------------------------------------------------------------------------

    def register(
        self, compute_service_id: ComputeServiceID, compute_manager_id: Optional[ComputeManagerID] = None
    ) -> ComputeServiceID:
        data = {"compute_manager_id": str(compute_manager_id) if compute_manager_id is not None else None}
        return ComputeServiceID(self._post_resource(f"/computeservice/{compute_service_id}/register", data))

    def deregister(self, compute_service_id: ComputeServiceID) -> ComputeServiceID:
        return ComputeServiceID(self._post_resource(f"/computeservice/{compute_service_id}/deregister", {}))

    def heartbeat(self, compute_service_id: ComputeServiceID) -> ComputeServiceID:
        """Signal liveness; a 404 ``AlchemiscaleClientError`` means the registration expired."""
        return ComputeServiceID(self._post_resource(f"/computeservice/{compute_service_id}/heartbeat", {}))

    def list_scopes(self) -> list[Scope]:
        """The scopes this identity currently holds, sorted."""
        return sorted(Scope.from_str(s) for s in self._get_resource(f"/identities/{self.identifier}/scopes"))

    # -- claiming ----------------------------------------------------------------------------------

    def query_taskhubs(
        self, scopes: Sequence[Union[Scope, str]], return_gufe: bool = False
    ) -> Union[list[ScopedKey], dict[ScopedKey, TaskHub]]:
        """TaskHubs in any of ``scopes`` (narrowed by the server to the token's scopes)."""
        if return_gufe:
            hubs: dict[ScopedKey, TaskHub] = {}
            for scope in _scope_dicts(scopes):
                found = self._get_resource("/taskhubs", params={**scope, "return_gufe": True})
                hubs.update({ScopedKey.from_str(sk): TaskHub.from_gufe_json(hub) for sk, hub in found.items()})
            return hubs
        keys: set[ScopedKey] = set()
        for scope in _scope_dicts(scopes):
            keys.update(self._query_resource("/taskhubs", params=scope))
        return sorted(keys)

    def claim_taskhub_tasks(
        self,
        taskhub: ScopedKeyLike,
        compute_service_id: ComputeServiceID,
        count: int = 1,
        protocols: Optional[Sequence[str]] = None,
    ) -> list[Optional[ScopedKey]]:
        data = {
            "compute_service_id": str(compute_service_id),
            "count": count,
            "protocols": list(protocols) if protocols is not None else None,
        }
        return _scoped_keys(self._post_resource(f"/taskhubs/{taskhub}/claim", data))

    def claim_tasks(
        self,
        scopes: Sequence[Union[Scope, str]],
        compute_service_id: ComputeServiceID,
        scopes_exclude: Optional[Sequence[Union[Scope, str]]] = None,
        count: int = 1,
        protocols: Optional[Sequence[str]] = None,
    ) -> Optional[list[Optional[ScopedKey]]]:
        """Claim up to ``count`` Tasks; ``None`` if the service is denied for failing too often."""
        data = {
            "scopes": _scope_dicts(scopes),
            "scopes_exclude": _scope_dicts(scopes_exclude) if scopes_exclude else None,
            "compute_service_id": str(compute_service_id),
            "count": count,
            "protocols": list(protocols) if protocols is not None else None,
        }
        tasks = self._post_resource("/claim", data)
        return None if tasks is None else _scoped_keys(tasks)

    # -- running a Task --------------------------------------------------------------------------

    def get_task_transformation(self, task: ScopedKeyLike) -> ScopedKey:
        return ScopedKey.from_str(self._get_resource(f"/tasks/{task}/transformation"))

    def retrieve_task_transformation(
        self, task: ScopedKeyLike
    ) -> tuple["Transformation", Optional["ProtocolDAGResult"]]:
        """The Transformation a Task performs, and the result of the Task it extends (or None)."""
        from ..serialization.compression import deserialize_protocoldagresult
        from ..serialization.gufe_chain import from_keyed_chain_json

        chain, extends = self._get_resource(f"/tasks/{task}/transformation/gufe")
        transformation = from_keyed_chain_json(chain)
        protocoldagresult = deserialize_protocoldagresult(latin1_to_bytes(extends)) if extends is not None else None
        return transformation, protocoldagresult

    def set_task_result(
        self, task: ScopedKeyLike, protocoldagresult: "ProtocolDAGResult", compute_service_id: ComputeServiceID
    ) -> ScopedKey:
        """Upload a Task's result (zstd-compressed here); returns the ScopedKey of its ref."""
        from ..serialization.compression import serialize_protocoldagresult

        return self.set_task_result_bytes(task, serialize_protocoldagresult(protocoldagresult), compute_service_id)

    def set_task_result_bytes(
        self, task: ScopedKeyLike, protocoldagresult: bytes, compute_service_id: ComputeServiceID
    ) -> ScopedKey:
        """Upload result bytes already made by :func:`~alchemiscale.serialization.compression.serialize_protocoldagresult`."""
        # unkeyed: a repeated upload of a result is answered with its ref by the route itself
        ref = self._post_content(
            f"/tasks/{task}/results/zstd", protocoldagresult, RESULT_MEDIA_TYPE,
            params={"compute_service_id": str(compute_service_id)}, keyed=False,
        )
        return ScopedKey.from_dict(ref)

    def get_tasks_wanted(self, tasks: Sequence[ScopedKeyLike], compute_service_id: ComputeServiceID) -> list[bool]:
        """Whether each running Task is still wanted (actioned, valid, still claimed by this service)."""
        data = {"tasks": [str(task) for task in tasks], "compute_service_id": str(compute_service_id)}
        return self._post_resource("/tasks/wanted", data)


class AlchemiscaleComputeManagerClient(AlchemiscaleBaseClient):
    """What a compute manager needs: registration, instructions and status reports."""

    _api_name = API_NAME

    def register(self, compute_manager_id: ComputeManagerID, steal: bool = False) -> ComputeManagerID:
        return ComputeManagerID(
            self._post_resource(f"/computemanager/{compute_manager_id}/register", {"steal": steal})
        )

    def deregister(self, compute_manager_id: ComputeManagerID) -> ComputeManagerID:
        return ComputeManagerID(self._post_resource(f"/computemanager/{compute_manager_id}/deregister", {}))

    def get_instruction(
        self,
        scopes: Sequence[Union[Scope, str]],
        protocols: Optional[Sequence[str]],
        compute_manager_id: ComputeManagerID,
    ) -> tuple[ComputeManagerInstruction, dict[str, Any]]:
        """The instruction (OK, SKIP, SHUTDOWN) and its data (``num_tasks``, ``compute_service_ids``, ...)."""
        payload = self._post_resource(
            f"/computemanager/{compute_manager_id}/instruction",
            {"scopes": _scope_dicts(scopes), "protocols": list(protocols) if protocols is not None else None},
        )
        data = dict(payload)
        try:
            instruction = ComputeManagerInstruction(data.pop("instruction"))
        except (KeyError, ValueError) as e:
            raise AlchemiscaleClientError(f"unrecognized compute manager instruction payload: {payload!r}") from e
        for ids in ("compute_service_ids", "busy_compute_service_ids"):
            if ids in data:
                data[ids] = [ComputeServiceID(i) for i in data[ids]]
        return instruction, data

    def update_status(
        self,
        compute_manager_id: ComputeManagerID,
        status: Union[ComputeManagerStatus, str],
        detail: Optional[str] = None,
        saturation: Optional[float] = None,
    ) -> ComputeManagerID:
        data = {"status": str(ComputeManagerStatus(status)), "detail": detail, "saturation": saturation}
        return ComputeManagerID(self._post_resource(f"/computemanager/{compute_manager_id}/status", data))

    def clear_error(self, compute_manager_name: str) -> ComputeManagerID:
        """Remove the errored manager of that name (or id) so the name can be registered again."""
        return ComputeManagerID(self._post_resource(f"/computemanager/{compute_manager_name}/clear_error", {}))
