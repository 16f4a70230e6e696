"""What the YAML settings files of long-running processes share: reading them and their log level.

The compute service, the compute managers and the strategist each read one YAML file into a pydantic
model; their errors name the file and what is wrong with it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator


def _log_level(value: str) -> str:
    level = value.upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ValueError(f"loglevel must be one of DEBUG, INFO, WARN(ING), ERROR, CRITICAL; got {value!r}")
    return level


LogLevel = Annotated[str, AfterValidator(_log_level)]
"""A logging level name, any case, stored upper-case."""


def read_yaml(path: Path, what: str, error: type[Exception]) -> Any:
    """The parsed contents of ``path``; ``error`` names ``what`` the file is if it cannot be read or parsed."""
    try:
        return yaml.safe_load(path.read_text())
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e}") from None
    except yaml.YAMLError as e:
        raise error(f"{what} {path} is not valid YAML: {e}") from None
