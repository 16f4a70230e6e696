"""alchemiscale: high-throughput alchemical free energy execution."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("alchemiscale")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
