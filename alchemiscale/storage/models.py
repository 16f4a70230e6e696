"""Domain models of the state store that are not gufe objects.

Upstream makes these GufeTokenizables; here they are plain pydantic models so the servers never
import gufe. Each has a ``key`` in gufe key form (``<ClassName>-<token>``) so it gets a ScopedKey
like any other stored object.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone
from enum import StrEnum
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from ..models import MAX_INT64, ComputeManagerID, ComputeServiceID, Scope, ScopedKey


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


class TaskStatusEnum(StrEnum):
    waiting = "waiting"
    running = "running"
    complete = "complete"
    error = "error"
    invalid = "invalid"
    deleted = "deleted"


class NetworkStateEnum(StrEnum):
    active = "active"
    inactive = "inactive"
    invalid = "invalid"
    deleted = "deleted"


class ComputeManagerStatus(StrEnum):
    OK = "OK"
    ERROR = "ERROR"


class ComputeManagerInstruction(StrEnum):
    OK = "OK"
    SKIP = "SKIP"
    SHUTDOWN = "SHUTDOWN"


class StoredModel(BaseModel):
    model_config = ConfigDict(frozen=True, use_enum_values=True)

    @property
    def key(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def scoped_key(self, scope: Scope) -> ScopedKey:
        return ScopedKey(gufe_key=self.key, **scope.to_dict())


class Task(StoredModel):
    """One execution of a Transformation's ProtocolDAG; never deduplicated."""

    uuid: str = Field(default_factory=lambda: uuid.uuid4().hex)
    status: TaskStatusEnum = TaskStatusEnum.waiting
    priority: int = Field(default=10, ge=1, le=MAX_INT64)
    datetime_created: datetime = Field(default_factory=utcnow)
    creator: Optional[str] = None
    extends: Optional[str] = None  # ScopedKey string of the extended Task
    claim: Optional[str] = None  # ComputeServiceID holding the claim

    @property
    def key(self) -> str:
        return f"Task-{self.uuid}"


class TaskHub(StoredModel):
    """The queue of actioned Tasks of one AlchemicalNetwork; one per network."""

    network: str  # ScopedKey string
    weight: float = Field(default=0.5, ge=0.0, le=1.0)

    @property
    def key(self) -> str:
        return f"TaskHub-{_md5(self.network)}"

    def to_gufe_json(self) -> str:
        """The TaskHub as the compute API sends it: JSON text of the gufe dict of upstream's TaskHub
        class, so that upstream compute clients rebuild it with ``GufeTokenizable.from_dict``."""
        return json.dumps({"network": self.network, "weight": self.weight, **_UPSTREAM_TASKHUB_CLASS})

    @classmethod
    def from_gufe_json(cls, text: str) -> "TaskHub":
        """Inverse of :meth:`to_gufe_json`."""
        fields = json.loads(text)
        if not isinstance(fields, dict) or fields.get("__qualname__") != "TaskHub":
            raise ValueError(f"not the JSON text of a TaskHub: {text[:200]!r}")
        return cls(network=fields["network"], weight=fields["weight"])


_UPSTREAM_TASKHUB_CLASS = {"__qualname__": "TaskHub", "__module__": "alchemiscale.storage.models", ":version:": 1}


class NetworkMark(StoredModel):
    """Holds the state of a network (active, inactive, invalid, deleted)."""

    target: str  # network ScopedKey string
    state: NetworkStateEnum = NetworkStateEnum.active

    @property
    def key(self) -> str:
        return f"NetworkMark-{_md5(self.target)}"


class ProtocolDAGResultRef(StoredModel):
    """Where a ProtocolDAGResult's bytes live in the object store, and whether it succeeded."""

    location: str
    obj_key: str  # gufe key of the ProtocolDAGResult
    scope: Scope
    ok: bool
    datetime_created: datetime = Field(default_factory=utcnow)
    creator: Optional[str] = None

    @property
    def key(self) -> str:
        return f"ProtocolDAGResultRef-{_md5(self.location)}"


class Tracebacks(StoredModel):
    """Tracebacks of the failed units of one failed ProtocolDAGResult."""

    tracebacks: list[str]
    source_keys: list[str]
    failure_keys: list[str]
    result_ref: str  # ProtocolDAGResultRef ScopedKey string

    @property
    def key(self) -> str:
        return f"Tracebacks-{_md5(self.result_ref)}"


class TaskRestartPattern(StoredModel):
    """A regex that, matched against a failed Task's tracebacks, sends it back to waiting."""

    pattern: str
    max_retries: int = Field(gt=0)
    taskhub_scoped_key: str

    @property
    def key(self) -> str:
        return f"TaskRestartPattern-{_md5(self.pattern + self.taskhub_scoped_key)}"


class ComputeServiceRegistration(BaseModel):
    identifier: ComputeServiceID
    registered: datetime
    heartbeat: datetime
    failure_times: list[datetime] = Field(default_factory=list)
    manager_name: Optional[str] = None

    model_config = ConfigDict(arbitrary_types_allowed=True)


class ComputeManagerRegistration(BaseModel):
    name: str
    uuid: str
    registered: datetime
    last_status_update: datetime
    status: ComputeManagerStatus
    detail: Optional[str] = None
    saturation: Optional[float] = Field(default=None, ge=0.0, le=1.0)

    @property
    def identifier(self) -> ComputeManagerID:
        return ComputeManagerID(f"{self.name}-{self.uuid}")
