"""Compute service and compute manager registrations: liveness, failure memory, requeueing, scaling.

Each registration may record its ``owner``, the compute identity that registered it, so the
compute API can refuse requests naming another identity's service or manager.

A ComputeServiceRegistration is the anchor of a service's CLAIMS; when it goes (deregistration
or heartbeat expiry) its running Tasks go back to waiting and their open attempts are closed as
``requeued``, in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional, Sequence, Union

from neo4j import ManagedTransaction

from ...errors import ConflictError, InvalidInputError, NotFoundError
from ...models import ComputeManagerID, ComputeServiceID, Scope, ScopedKey
from ..models import (
    ComputeManagerInstruction,
    ComputeManagerRegistration,
    ComputeManagerStatus,
    ComputeServiceRegistration,
    utcnow,
)
from .claims import CLAIMABLE_TASK, scoped_key_str
from .scoping import ScopedKeyLike, as_scope, to_native
from .status import apply_status, lock_tasks

# Registrations are locked (in identifier order, as every other writer does) before the Tasks they
# claim are read, so no claim can add a CLAIMS edge unseen; `$expire_time` is re-checked under the
# lock so a heartbeat that arrived meanwhile keeps its registration.
_LOCK_REGISTRATIONS = """
UNWIND $identifiers AS identifier
WITH DISTINCT identifier ORDER BY identifier
MATCH (csr:ComputeServiceRegistration {identifier: identifier})
SET csr._lock = true
REMOVE csr._lock
WITH csr
WHERE $expire_time IS NULL OR csr.heartbeat < $expire_time
OPTIONAL MATCH (csr)-[:CLAIMS]->(t:Task)
RETURN csr.identifier AS identifier, collect(t._scoped_key) AS tasks
"""

_DELETE_REGISTRATIONS = """
UNWIND $identifiers AS identifier
MATCH (csr:ComputeServiceRegistration {identifier: identifier})
DETACH DELETE csr
"""

_CREATE_SERVICE = """
CREATE (csr:ComputeServiceRegistration {
    identifier: $identifier, registered: $registered, heartbeat: $heartbeat,
    failure_times: $failure_times, manager_name: $manager_name, owner: $owner
})
"""

_ATTACH_TO_MANAGER = """
MATCH (cmr:ComputeManagerRegistration {name: $manager_name}),
      (csr:ComputeServiceRegistration {identifier: $identifier})
CREATE (cmr)-[:MANAGES]->(csr)
RETURN count(*) AS attached
"""

_CAN_CLAIM = """
UNWIND $compute_service_ids AS compute_service_id
OPTIONAL MATCH (csr:ComputeServiceRegistration {identifier: compute_service_id})
SET csr.failure_times = [failed IN csr.failure_times WHERE failed > $forgive_time]
RETURN compute_service_id, csr IS NOT NULL AS registered, size(csr.failure_times) AS failures
"""

_TASKS_WANTED = """
UNWIND $tasks AS task_sk
OPTIONAL MATCH (t:GufeTokenizable:Task {_scoped_key: task_sk})
USING INDEX t:GufeTokenizable(_scoped_key)
RETURN task_sk,
       t IS NOT NULL AND t.status = 'running' AND t.claim = $compute_service_id
       AND EXISTS { (:ComputeServiceRegistration {identifier: $compute_service_id})-[:CLAIMS]->(t) }
       AND EXISTS { (:TaskHub)-[:ACTIONS]->(t) } AS wanted
"""

_MANAGER_PROPS = ("name", "uuid", "registered", "last_status_update", "status", "detail", "saturation")

_AVAILABLE_TASKS = f"""
MATCH (:TaskHub)-[a:ACTIONS]->(t:Task)
WHERE any(scope IN $scopes WHERE (scope.org IS NULL OR t._org = scope.org)
                             AND (scope.campaign IS NULL OR t._campaign = scope.campaign)
                             AND (scope.project IS NULL OR t._project = scope.project))
  AND {CLAIMABLE_TASK}
RETURN count(DISTINCT t) AS available
"""


def service_id_str(value: Union[ComputeServiceID, str]) -> str:
    """A ComputeServiceID's string; ``InvalidInputError`` naming the problem if it is malformed."""
    try:
        return str(ComputeServiceID(value))
    except ValueError as e:
        raise InvalidInputError(str(e)) from None


def _manager_id(value: Union[ComputeManagerID, str]) -> ComputeManagerID:
    return value if isinstance(value, ComputeManagerID) else ComputeManagerID(value)


class ComputeMixin:
    # -- compute services ---------------------------------------------------------------

    def register_computeservice(
        self, registration: ComputeServiceRegistration, owner: Optional[str] = None
    ) -> ComputeServiceID:
        """Create the registration that anchors a service's claims, owned by identity ``owner``.

        With ``manager_name`` set the registration is attached (MANAGES) to the compute manager of
        that name, which must be registered (ValueError otherwise). A duplicate identifier is a
        ConflictError.
        """
        identifier = service_id_str(registration.identifier)
        params = {
            "identifier": identifier,
            "registered": registration.registered,
            "heartbeat": registration.heartbeat,
            "failure_times": list(registration.failure_times),
            "manager_name": registration.manager_name,
            "owner": owner,
        }

        def register(tx) -> None:
            if tx.run(
                "MATCH (csr:ComputeServiceRegistration {identifier: $identifier}) RETURN csr.identifier",
                params,
            ).single():
                raise ConflictError(f"compute service {identifier} is already registered")
            tx.run(_CREATE_SERVICE, params)
            if registration.manager_name is not None:
                attached = tx.run(_ATTACH_TO_MANAGER, params).single()["attached"]
                if not attached:
                    raise InvalidInputError(
                        f"no compute manager named {registration.manager_name!r} is registered; "
                        f"cannot register compute service {identifier} under it"
                    )

        self.write_transaction(register)
        return ComputeServiceID(identifier)

    def get_compute_service_owner(self, compute_service_id: Union[ComputeServiceID, str]) -> Optional[str]:
        """The identity that registered the service (None if none was recorded); KeyError if not registered."""
        identifier = service_id_str(compute_service_id)
        records = self.execute_query(
            "MATCH (csr:ComputeServiceRegistration {identifier: $identifier}) RETURN csr.owner AS owner",
            {"identifier": identifier},
        )
        if not records:
            raise NotFoundError(f"compute service {identifier} is not registered")
        return records[0]["owner"]

    def deregister_computeservice(
        self, compute_service_id: Union[ComputeServiceID, str]
    ) -> Optional[ComputeServiceID]:
        """Remove a registration; its running Tasks go back to waiting (attempts closed as requeued).

        Returns the id, or None if it was not registered (e.g. it had already expired).
        """
        removed = self._release_and_delete([service_id_str(compute_service_id)], expire_time=None)
        return ComputeServiceID(removed[0]) if removed else None

    def heartbeat_computeservice(
        self, compute_service_id: Union[ComputeServiceID, str], heartbeat: datetime
    ) -> Optional[ComputeServiceID]:
        """Record a sign of life; None tells the caller it is no longer registered (expired or deleted).

        A registration deleted while the heartbeat waited for its lock still matches, with no properties.
        """
        records = self.execute_query(
            "MATCH (csr:ComputeServiceRegistration {identifier: $id}) SET csr.heartbeat = $heartbeat "
            "RETURN csr.identifier AS identifier",
            {"id": service_id_str(compute_service_id), "heartbeat": heartbeat},
        )
        identifier = records[0]["identifier"] if records else None
        return ComputeServiceID(identifier) if identifier is not None else None

    def expire_registrations(self, expire_time: datetime) -> list[ComputeServiceID]:
        """Delete registrations whose last heartbeat is older than ``expire_time``; requeue their Tasks."""
        expired = [
            record["identifier"]
            for record in self.execute_query(
                "MATCH (csr:ComputeServiceRegistration) WHERE csr.heartbeat < $expire_time "
                "RETURN csr.identifier AS identifier",
                {"expire_time": expire_time},
            )
        ]
        if not expired:
            return []
        return [ComputeServiceID(identifier) for identifier in self._release_and_delete(expired, expire_time)]

    def _release_and_delete(self, identifiers: list[str], expire_time: Optional[datetime]) -> list[str]:
        """Delete registrations (those still older than ``expire_time``, if given) after sending their
        running Tasks back to waiting, in one transaction; returns the identifiers deleted."""

        def work(tx: ManagedTransaction) -> list[str]:
            locked = list(tx.run(_LOCK_REGISTRATIONS, identifiers=identifiers, expire_time=expire_time))
            claimed = sorted({task for record in locked for task in record["tasks"]})
            current = lock_tasks(tx, claimed) if claimed else {}
            running = sorted(sk for sk, status in current.items() if status == "running")
            if running:
                apply_status(tx, running, "waiting")
            deleted = [record["identifier"] for record in locked]
            tx.run(_DELETE_REGISTRATIONS, identifiers=deleted).consume()
            return deleted

        return self.write_transaction(work)

    def log_failure_compute_service(
        self, compute_service_id: Union[ComputeServiceID, str], failure_time: datetime
    ) -> Optional[ComputeServiceID]:
        """Remember that the service returned a failed result at ``failure_time`` (newest first)."""
        records = self.execute_query(
            "MATCH (csr:ComputeServiceRegistration {identifier: $id}) "
            "SET csr.failure_times = [$failure_time] + coalesce(csr.failure_times, []) "
            "RETURN csr.identifier AS identifier",
            {"id": service_id_str(compute_service_id), "failure_time": failure_time},
        )
        return ComputeServiceID(records[0]["identifier"]) if records else None

    def compute_services_can_claim(
        self, compute_service_ids: Sequence[Union[ComputeServiceID, str]], forgive_time: datetime,
        max_failures: int,
    ) -> list[bool]:
        """Whether each service may claim: at most ``max_failures`` failures after ``forgive_time``.

        Failures at or before ``forgive_time`` are forgiven and dropped from the registration.
        An unregistered service may not claim, nor one whose registration is being deleted
        meanwhile (its node still matches, without properties).
        """
        if max_failures < 0:
            raise InvalidInputError(f"max_failures must be >= 0, got {max_failures}")
        records = self.execute_query(
            _CAN_CLAIM,
            {"compute_service_ids": [service_id_str(i) for i in compute_service_ids], "forgive_time": forgive_time},
        )
        return [bool(r["registered"]) and r["failures"] is not None and r["failures"] <= max_failures
                for r in records]

    def compute_service_can_claim(
        self, compute_service_id: Union[ComputeServiceID, str], forgive_time: datetime, max_failures: int
    ) -> bool:
        return self.compute_services_can_claim([compute_service_id], forgive_time, max_failures)[0]

    def get_compute_service_claimed_tasks(
        self, compute_service_id: Union[ComputeServiceID, str]
    ) -> list[ScopedKey]:
        records = self.execute_query(
            "MATCH (:ComputeServiceRegistration {identifier: $id})-[:CLAIMS]->(t:Task) "
            "RETURN t._scoped_key AS task ORDER BY task",
            {"id": service_id_str(compute_service_id)},
        )
        return [ScopedKey.from_str(record["task"]) for record in records]

    def get_tasks_wanted(
        self, tasks: Sequence[ScopedKeyLike], compute_service_id: Union[ComputeServiceID, str]
    ) -> list[bool]:
        """For a service's running Tasks: is each one still worth finishing?

        False when the Task is gone, invalid/deleted (or otherwise not running), no longer
        actioned on any TaskHub, or no longer claimed by this service.
        """
        task_sks = [scoped_key_str(task) for task in tasks]
        records = self.execute_query(
            _TASKS_WANTED, {"tasks": task_sks, "compute_service_id": service_id_str(compute_service_id)}
        )
        return [bool(record["wanted"]) for record in records]

    # -- compute managers ---------------------------------------------------------------

    def register_computemanager(
        self, registration: ComputeManagerRegistration, steal: bool = False, owner: Optional[str] = None
    ) -> ComputeManagerID:
        """Register a manager, owned by identity ``owner``, under a unique name; ``steal`` replaces
        an existing one of that name.

        Compute services left orphaned by an earlier manager of the same name are reattached.
        """
        manager_id = registration.identifier
        props = registration.model_dump(include=set(_MANAGER_PROPS))
        props["status"] = ComputeManagerStatus(props["status"]).value

        def register(tx) -> None:
            existing = tx.run(
                "MATCH (cmr:ComputeManagerRegistration {name: $name}) RETURN cmr.uuid AS uuid", props
            ).single()
            if existing is not None:
                if not steal:
                    raise InvalidInputError(
                        f"a compute manager named {registration.name!r} is already registered; "
                        "use steal=True to replace it"
                    )
                tx.run("MATCH (cmr:ComputeManagerRegistration {name: $name}) DETACH DELETE cmr", props)
            tx.run(
                "CREATE (cmr:ComputeManagerRegistration) SET cmr = $props, cmr.owner = $owner",
                {"props": props, "owner": owner},
            )
            tx.run(
                "MATCH (cmr:ComputeManagerRegistration {name: $name, uuid: $uuid}), "
                "      (csr:ComputeServiceRegistration {manager_name: $name}) "
                "WHERE NOT EXISTS { (:ComputeManagerRegistration)-[:MANAGES]->(csr) } "
                "CREATE (cmr)-[:MANAGES]->(csr)",
                props,
            )

        self.write_transaction(register)
        return manager_id

    def deregister_computemanager(self, compute_manager_id: Union[ComputeManagerID, str]) -> None:
        """Remove a manager unless it is in ERROR (those stay visible until cleared or expired)."""
        manager_id = _manager_id(compute_manager_id)
        self.execute_query(
            "MATCH (cmr:ComputeManagerRegistration {name: $name, uuid: $uuid}) "
            "WHERE cmr.status <> $error DETACH DELETE cmr",
            {"name": manager_id.name, "uuid": manager_id.uuid, "error": ComputeManagerStatus.ERROR.value},
        )

    def expire_computemanager_registrations(
        self, expire_time_ok: datetime, expire_time_error: datetime
    ) -> list[ComputeManagerID]:
        """Delete OK managers silent since ``expire_time_ok`` and ERROR ones since ``expire_time_error``."""
        records = self.execute_query(
            "MATCH (cmr:ComputeManagerRegistration) "
            "WHERE (cmr.status = $ok AND cmr.last_status_update < $expire_ok) "
            "   OR (cmr.status = $error AND cmr.last_status_update < $expire_error) "
            "WITH cmr, cmr.name + '-' + cmr.uuid AS identifier DETACH DELETE cmr RETURN identifier",
            {
                "ok": ComputeManagerStatus.OK.value,
                "error": ComputeManagerStatus.ERROR.value,
                "expire_ok": expire_time_ok,
                "expire_error": expire_time_error,
            },
        )
        return [ComputeManagerID(record["identifier"]) for record in records]

    def get_compute_manager_id(self, name: str) -> Optional[ComputeManagerID]:
        records = self.execute_query(
            "MATCH (cmr:ComputeManagerRegistration {name: $name}) RETURN cmr.uuid AS uuid", {"name": name}
        )
        return ComputeManagerID(f"{name}-{records[0]['uuid']}") if records else None

    def get_compute_manager_owner(self, name: str, uuid: Optional[str] = None) -> Optional[str]:
        """The identity that registered the manager called ``name`` (with ``uuid``, if given), None if
        none was recorded; KeyError if no such manager is registered."""
        records = self.execute_query(
            "MATCH (cmr:ComputeManagerRegistration {name: $name}) WHERE $uuid IS NULL OR cmr.uuid = $uuid "
            "RETURN cmr.owner AS owner",
            {"name": name, "uuid": uuid},
        )
        if not records:
            manager = name if uuid is None else f"{name}-{uuid}"
            raise NotFoundError(f"compute manager {manager} is not registered")
        return records[0]["owner"]

    def get_compute_manager_status(
        self, compute_manager_id: Union[ComputeManagerID, str]
    ) -> Optional[ComputeManagerRegistration]:
        """The manager's registration (status, detail, saturation, last update), or None."""
        manager_id = _manager_id(compute_manager_id)
        records = self.execute_query(
            "MATCH (cmr:ComputeManagerRegistration {name: $name, uuid: $uuid}) RETURN properties(cmr) AS props",
            {"name": manager_id.name, "uuid": manager_id.uuid},
        )
        if not records:
            return None
        props = {key: to_native(value) for key, value in records[0]["props"].items() if key in _MANAGER_PROPS}
        return ComputeManagerRegistration(**props)

    def clear_errored_computemanager(self, compute_manager_id: Union[ComputeManagerID, str]) -> None:
        """Delete a manager in ERROR status; ValueError if there is no such errored manager."""
        manager_id = _manager_id(compute_manager_id)
        records = self.execute_query(
            "MATCH (cmr:ComputeManagerRegistration {name: $name, uuid: $uuid, status: $error}) "
            "DETACH DELETE cmr RETURN count(*) AS deleted",
            {"name": manager_id.name, "uuid": manager_id.uuid, "error": ComputeManagerStatus.ERROR.value},
        )
        if not records or not records[0]["deleted"]:
            raise InvalidInputError(f"no compute manager {manager_id} in ERROR status is registered")

    def get_computemanager_instruction(
        self,
        compute_manager_id: Union[ComputeManagerID, str],
        scopes: Sequence[Scope],
        protocols: Optional[Sequence[str]],
        forgive_time: datetime,
        max_failures: int,
    ) -> tuple[ComputeManagerInstruction, dict[str, Any]]:
        """What a manager should do now.

        SHUTDOWN if it is not registered; SKIP if any service it manages is over the failure
        limit; otherwise OK with ``num_tasks``, the number of distinct Tasks in ``scopes`` (and
        of ``protocols``) a service could claim right now, and ``busy_compute_service_ids``, the
        managed services holding claimed Tasks (the ones a manager scaling down must keep).
        """
        manager_id = _manager_id(compute_manager_id)
        # Waiting Tasks are counted before the services' claims are read: a claim landing in between then
        # shows as a waiting Task or as a busy service, never as neither (which would stop a working service).
        available = self.execute_query(
            _AVAILABLE_TASKS,
            {"scopes": [as_scope(scope).to_dict() for scope in scopes], "protocols": list(protocols) if protocols is not None else None},
        )[0]["available"]
        records = self.execute_query(
            "MATCH (cmr:ComputeManagerRegistration {name: $name, uuid: $uuid}) "
            "OPTIONAL MATCH (cmr)-[:MANAGES]->(csr:ComputeServiceRegistration) "
            "RETURN csr.identifier AS service, EXISTS { (csr)-[:CLAIMS]->(:Task) } AS busy ORDER BY service",
            {"name": manager_id.name, "uuid": manager_id.uuid},
        )
        if not records:
            return ComputeManagerInstruction.SHUTDOWN, {
                "message": f"compute manager {manager_id} is not registered"
            }
        services = [ComputeServiceID(r["service"]) for r in records if r["service"] is not None]
        if services and not all(self.compute_services_can_claim(services, forgive_time, max_failures)):
            return ComputeManagerInstruction.SKIP, {"compute_service_ids": services}
        busy = [ComputeServiceID(r["service"]) for r in records if r["service"] is not None and r["busy"]]
        return ComputeManagerInstruction.OK, {
            "compute_service_ids": services, "num_tasks": available, "busy_compute_service_ids": busy
        }

    def update_compute_manager_status(
        self,
        compute_manager_id: Union[ComputeManagerID, str],
        status: Union[ComputeManagerStatus, str],
        detail: Optional[str] = None,
        saturation: Optional[float] = None,
        update_time: Optional[datetime] = None,
    ) -> Optional[ComputeManagerID]:
        """OK needs a saturation in [0, 1] and no detail; ERROR needs a detail and no saturation."""
        try:
            status = ComputeManagerStatus(status)
        except ValueError:
            raise InvalidInputError(f"{status!r} is not a compute manager status (OK or ERROR)") from None
        if status == ComputeManagerStatus.OK:
            if saturation is None:
                raise InvalidInputError("saturation is required for the OK status")
            if detail:
                raise InvalidInputError("detail is only allowed with the ERROR status")
            if not 0 <= saturation <= 1:
                raise InvalidInputError(f"saturation must be between 0 and 1, got {saturation}")
        else:
            if saturation is not None:
                raise InvalidInputError("saturation is only allowed with the OK status")
            if not detail:
                raise InvalidInputError("detail is required for the ERROR status")
        manager_id = _manager_id(compute_manager_id)
        records = self.execute_query(
            "MATCH (cmr:ComputeManagerRegistration {name: $name, uuid: $uuid}) "
            "SET cmr.status = $status, cmr.detail = $detail, cmr.saturation = $saturation, "
            "    cmr.last_status_update = $update_time RETURN cmr.name AS name",
            {
                "name": manager_id.name,
                "uuid": manager_id.uuid,
                "status": status.value,
                "detail": detail,
                "saturation": saturation,
                "update_time": update_time or utcnow(),
            },
        )
        return manager_id if records else None
