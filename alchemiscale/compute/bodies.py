"""Request bodies of the compute API.

They are plain pydantic models (no gufe), shared by the API, which validates them, and the compute
clients, which build them. Scopes may be sent as ``{"org", "campaign", "project"}`` dicts (as
upstream clients do) or as ``org-campaign-project`` strings.

This is the one place a claim request is checked (counts, service ids, Protocol names): a malformed
one answers 422 naming the field, and the routes and the state store below trust what they get.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

from ..models import ComputeServiceID, Scope

MAX_CLAIM_COUNT = 1000
MAX_WANTED_TASKS = 10000


def _scope_from_wire(value: Any) -> Any:
    if isinstance(value, str):
        return Scope.from_str(value)
    return value


WireScope = Annotated[Scope, BeforeValidator(_scope_from_wire)]

# A ``{name}-{uuid4 hex}`` compute service id, parsed into a ComputeServiceID.
WireServiceID = Annotated[str, AfterValidator(ComputeServiceID)]

# A Protocol class name, as the claim filters match it against node labels.
ProtocolName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z][a-zA-Z0-9_]*$")]

# Claim only Tasks of these Protocols; null means any Protocol, an empty list is refused.
ProtocolFilter = Optional[Annotated[list[ProtocolName], Field(min_length=1)]]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterComputeServiceBody(Body):
    compute_manager_id: Optional[str] = None


class ClaimTaskHubTasksBody(Body):
    compute_service_id: WireServiceID
    count: int = Field(default=1, ge=1, le=MAX_CLAIM_COUNT)
    protocols: ProtocolFilter = None


class ClaimTasksBody(Body):
    scopes: list[WireScope] = Field(min_length=1)
    scopes_exclude: Optional[list[WireScope]] = None
    compute_service_id: WireServiceID
    count: int = Field(default=1, ge=1, le=MAX_CLAIM_COUNT)
    protocols: ProtocolFilter = None


class GufeEncodedBytes(Body):
    """gufe's JSON encoding of a bytes value, in which upstream compute clients send results.

    ``latin-1`` holds the bytes (zstd-compressed once more since gufe 1.2) as a latin-1 string; see
    :func:`alchemiscale.serialization.compression.gufe_bytes_value`.
    """

    class_name: Literal["bytes"] = Field(alias="__class__")
    module: Literal["builtins"] = Field(alias="__module__")
    is_custom: Literal[True] = Field(alias=":is_custom:")
    latin1: str = Field(alias="latin-1")


class SetTaskResultBody(Body):
    protocoldagresult: Union[str, GufeEncodedBytes] = Field(
        description="latin-1 string of the zstd-compressed keyed-chain bytes, or gufe's JSON encoding of those bytes"
    )
    compute_service_id: WireServiceID


class TasksWantedBody(Body):
    tasks: list[str] = Field(max_length=MAX_WANTED_TASKS)
    compute_service_id: WireServiceID


class RegisterComputeManagerBody(Body):
    steal: bool = False


class ComputeManagerInstructionBody(Body):
    """Empty lists mean no restriction, as upstream managers send them without a configured filter."""

    scopes: list[WireScope] = Field(default_factory=list, validate_default=True)
    protocols: Optional[list[ProtocolName]] = None

    @field_validator("scopes")
    @classmethod
    def _empty_means_every_scope(cls, scopes: list[Scope]) -> list[Scope]:
        return scopes or [Scope()]

    @field_validator("protocols")
    @classmethod
    def _empty_means_any_protocol(cls, protocols: Optional[list[str]]) -> Optional[list[str]]:
        return protocols or None


class ComputeManagerStatusBody(Body):
    status: str
    detail: Optional[str] = None
    saturation: Optional[float] = None
