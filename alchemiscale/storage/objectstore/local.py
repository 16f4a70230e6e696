"""Object store in a folder, for single-host deployments.

A location maps to ``{root}/{location}``; there is no extra prefix, since the root folder already
belongs to this store. Writes go to a temporary file in the destination folder, are fsynced and then
renamed over the destination (and the folder fsynced), so readers see a whole object or none and
any number of threads or processes may write at once. Every path is resolved (symlinks included)
and must stay under the root.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Iterator, Union

from ...errors import InvalidInputError
from ...settings import LocalObjectStoreSettings
from .base import (
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailableError,
    validate_expiry,
    validate_location,
    validate_prefix,
)

_TEMP_PREFIX = ".tmp-"
_CHECK_PROBE = ".check-"


class LocalObjectStore(ObjectStore):
    def __init__(self, root: Union[str, os.PathLike]):
        self.root = Path(os.path.realpath(Path(root).expanduser()))

    @classmethod
    def from_settings(cls, settings: LocalObjectStoreSettings) -> "LocalObjectStore":
        return cls(settings.ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT)

    def __repr__(self) -> str:
        return f"<LocalObjectStore(root={str(self.root)!r})>"

    def _path(self, location: str) -> Path:
        """The file for ``location``, refusing any path that resolves outside the root."""
        validate_location(location)
        path = self.root.joinpath(*location.split("/"))
        real = os.path.realpath(path)
        if os.path.commonpath([real, str(self.root)]) != str(self.root):
            raise InvalidInputError(f"object location {location!r} resolves outside the object store root")
        return path

    def initialize(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ObjectStoreError(f"local object store: could not create root folder {str(self.root)!r}: {e}") from e

    def reset(self) -> None:
        """Delete everything inside the root folder (the folder itself stays)."""
        if not self.root.is_dir():
            return
        for child in self.root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def check(self) -> None:
        if not self.root.is_dir():
            raise ObjectStoreError(f"local object store check failed: root {str(self.root)!r} is not a folder")
        try:
            next(self.root.iterdir(), None)
        except OSError as e:
            raise ObjectStoreError(f"local object store check failed: cannot list root {str(self.root)!r}: {e}") from e
        probe = self.root / f"{_CHECK_PROBE}{uuid.uuid4().hex}"
        payload = uuid.uuid4().bytes
        try:
            self._write_atomically(probe, payload)
        except OSError as e:
            raise ObjectStoreError(f"local object store check failed: cannot write in {str(self.root)!r}: {e}") from e
        try:
            read_back = probe.read_bytes()
            probe.unlink()
        except OSError as e:
            raise ObjectStoreError(
                f"local object store check failed: cannot read or delete probe {probe.name!r}: {e}"
            ) from e
        if read_back != payload:
            raise ObjectStoreError(f"local object store check failed: probe {probe.name!r} read back different bytes")

    def _store_bytes(self, location: str, data: bytes) -> None:
        path = self._path(location)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write_atomically(path, data)
        except OSError as e:
            raise ObjectStoreUnavailableError(f"local object store: could not write object {location!r}: {e}") from e

    @staticmethod
    def _write_atomically(path: Path, data: bytes) -> None:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, path)
        except BaseException:
            try:
                os.unlink(temp_name)
            except FileNotFoundError:
                pass
            raise
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)  # makes the rename itself durable
        finally:
            os.close(folder)

    def _get_bytes(self, location: str) -> bytes:
        path = self._path(location)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFoundError(f"no object at {location!r} in the local object store") from None
        except OSError as e:
            raise ObjectStoreUnavailableError(f"local object store: could not read object {location!r}: {e}") from e

    def iter_contents(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        folder = prefix.rpartition("/")[0]
        start = self._path(folder) if folder else self.root
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            relative = Path(dirpath).relative_to(self.root).as_posix()
            for name in sorted(filenames):
                if name.startswith("."):  # temporary files and probes
                    continue
                location = name if relative == "." else f"{relative}/{name}"
                if location.startswith(prefix):
                    yield location

    def exists(self, location: str) -> bool:
        return self._path(location).is_file()

    def delete(self, location: str) -> None:
        """Remove the object's file; emptied folders are kept, so concurrent writers never lose theirs."""
        path = self._path(location)
        try:
            if path.is_dir():
                raise ObjectNotFoundError(f"no object at {location!r} in the local object store")
            path.unlink()
        except FileNotFoundError:
            raise ObjectNotFoundError(f"no object at {location!r} in the local object store") from None
        except OSError as e:
            raise ObjectStoreUnavailableError(f"local object store: could not delete object {location!r}: {e}") from e

    def presigned_url(self, location: str, expires_seconds: int = 300) -> str:
        self._path(location)
        validate_expiry(expires_seconds)
        raise NotImplementedError(
            "LocalObjectStore cannot issue presigned URLs: its objects are files on the server host, "
            "so serve their bytes through the API instead"
        )
