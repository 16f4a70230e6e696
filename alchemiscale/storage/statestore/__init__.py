"""``Neo4jStore``: the single source of truth, assembled from one mixin per concern."""

from ...errors import ConflictError, InvalidInputError, NotFoundError, UnavailableError
from .admin import AdminMixin
from .base import Neo4jStoreBase, Neo4jStoreError
from .claims import ClaimRequest, ClaimsMixin
from .compute import ComputeMixin
from .dashboard import DashboardMixin
from .idempotency import IdempotencyMixin, IdempotencyRecord
from .identities import IdentitiesMixin
from .networks import NetworksMixin
from .restarts import RestartsMixin
from .results import RecordedResult, ResultRecord, ResultsMixin, ResultUploadState, UploadStateRequest
from .strategies import StrategiesMixin
from .tasks import TasksMixin

__all__ = [
    "Neo4jStore",
    "Neo4jStoreError",
    "ConflictError",
    "InvalidInputError",
    "NotFoundError",
    "UnavailableError",
]


class Neo4jStore(
    AdminMixin,
    NetworksMixin,
    TasksMixin,
    ClaimsMixin,
    ComputeMixin,
    RestartsMixin,
    ResultsMixin,
    StrategiesMixin,
    DashboardMixin,
    IdentitiesMixin,
    IdempotencyMixin,
    Neo4jStoreBase,
):
    """All Cypher of alchemiscale lives behind this class (one mixin module per concern)."""
