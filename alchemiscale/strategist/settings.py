"""Settings of the strategist, read from one flat YAML file (see ``docs/strategist.rst``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
)

from ..base.client_cache import DEFAULT_CACHE_SIZE_LIMIT
from ..base.config_files import LogLevel, read_yaml
from ..models import Scope


class StrategistSettingsError(ValueError):
    """A strategist configuration file cannot be used; the message says why."""


class StrategistSettings(BaseModel):
    """Where the user API is, who the strategist is, which scopes it serves and how often."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    # connection (a user identity: the strategist is a client of the user API)
    api_url: str = Field(description="URL of the user API, e.g. https://api.example.org")
    identifier: str = Field(description="user identity the strategist acts as")
    key: SecretStr = Field(description="key of that identity (never logged)")

    # what to run, and how often
    scopes: Optional[list[Scope]] = Field(
        None, description="run strategies only in these scopes; None means every scope of the identity"
    )
    sleep_interval: PositiveInt = Field(
        300, description="seconds between cycles; also the shortest interval at which one network's strategy runs"
    )
    max_workers: PositiveInt = Field(4, description="networks whose strategies run at once (threads)")

    # logging
    loglevel: LogLevel = "WARN"
    logfile: Optional[Path] = None

    # client
    cache_directory: Optional[Path] = Field(
        None, description="client cache of networks and results; None: ~/.cache/alchemiscale-strategist"
    )
    cache_size_limit: PositiveInt = DEFAULT_CACHE_SIZE_LIMIT
    use_local_cache: bool = True
    client_max_retries: NonNegativeInt = 5
    client_retry_base_seconds: PositiveFloat = 2.0
    client_retry_max_seconds: PositiveFloat = 60.0
    client_verify: Union[bool, str] = True

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"api_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("scopes", mode="before")
    @classmethod
    def _parse_scopes(cls, value: Any) -> Optional[list]:
        if value is None:
            return None
        if isinstance(value, (str, Scope)):
            value = [value]
        if not isinstance(value, list) or not value:
            raise ValueError("scopes must be a non-empty list of 'org-campaign-project' strings, or left out")
        return [Scope.from_str(item) if isinstance(item, str) else item for item in value]

    @classmethod
    def from_yaml(cls, path: Union[str, Path]) -> "StrategistSettings":
        path = Path(path)
        data = read_yaml(path, "strategist config", StrategistSettingsError)
        if not isinstance(data, dict):
            raise StrategistSettingsError(
                f"strategist config {path} must be a mapping of setting names to values, got {type(data).__name__}"
            )
        try:
            return cls(**data)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'config'}: {err['msg']}" for err in e.errors())
            raise StrategistSettingsError(f"invalid strategist config {path}: {problems}") from None
