"""Object stores for ProtocolDAGResult bytes: S3 (or S3-compatible) and a local folder."""

from __future__ import annotations

from typing import Optional, Union

from ...settings import (
    LocalObjectStoreSettings,
    ObjectStoreSettings,
    S3ObjectStoreSettings,
    get_local_objectstore_settings,
    get_objectstore_settings,
    get_s3objectstore_settings,
)
from .base import (
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailableError,
    protocoldagresult_location,
)
from .local import LocalObjectStore
from .s3 import S3ObjectStore

__all__ = [
    "ObjectStore",
    "ObjectStoreError",
    "ObjectNotFoundError",
    "ObjectStoreUnavailableError",
    "S3ObjectStore",
    "LocalObjectStore",
    "get_objectstore",
    "protocoldagresult_location",
]

AnyObjectStoreSettings = Union[ObjectStoreSettings, S3ObjectStoreSettings, LocalObjectStoreSettings]


def get_objectstore(settings: Optional[AnyObjectStoreSettings] = None) -> ObjectStore:
    """The object store a deployment is configured for.

    With no settings (or ObjectStoreSettings), ``ALCHEMISCALE_OBJECT_STORE`` picks the backend and its
    own settings are read from the environment; backend settings given directly choose that backend.
    """
    if isinstance(settings, S3ObjectStoreSettings):
        return S3ObjectStore.from_settings(settings)
    if isinstance(settings, LocalObjectStoreSettings):
        return LocalObjectStore.from_settings(settings)
    if settings is None:
        settings = get_objectstore_settings()
    if not isinstance(settings, ObjectStoreSettings):
        raise TypeError(f"expected object store settings, got {type(settings).__name__}")
    if settings.ALCHEMISCALE_OBJECT_STORE == "s3":
        return S3ObjectStore.from_settings(get_s3objectstore_settings())
    return LocalObjectStore.from_settings(get_local_objectstore_settings())
