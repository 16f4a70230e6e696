"""alchemiscale: high-throughput alchemical free energy execution.

``AlchemiscaleClient`` and ``ResultFormat`` are loaded on first use: they need gufe, which the
servers (importing this package too) must never load.
"""

from importlib.metadata import PackageNotFoundError, version

from .models import Scope, ScopedKey

try:
    __version__ = version("alchemiscale")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["AlchemiscaleClient", "ResultFormat", "Scope", "ScopedKey", "__version__"]


def __getattr__(name: str):
    if name in ("AlchemiscaleClient", "ResultFormat"):
        from .interface import client

        return getattr(client, name)
    raise AttributeError(f"module 'alchemiscale' has no attribute {name!r}")
