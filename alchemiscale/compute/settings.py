"""Settings of a compute service, read from one flat YAML file.

See ``devtools/configs/synchronous-compute-settings.yaml`` for a commented template and
``docs/compute.rst`` for what each field does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Optional, Union

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
    model_validator,
)

from ..base.client_cache import DEFAULT_CACHE_SIZE_LIMIT
from ..base.config_files import LogLevel, read_yaml
from ..base.client_retry import RetryPolicy
from ..models import ComputeManagerID, ComputeServiceID, Scope
from .workers import PRELOAD_MODULES

_OLD_SECTIONS = ("init", "start")


class ComputeServiceSettingsError(ValueError):
    """A compute service configuration file cannot be used; the message says why."""


class ComputeServiceSettings(BaseModel):
    """Everything a compute service needs: where the API is, who it is, what to claim, how to run it."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    # connection
    api_url: str = Field(description="URL of the compute API, e.g. https://compute.example.org")
    identifier: str = Field(description="compute identity used to authenticate")
    key: SecretStr = Field(description="key of that identity (never logged)")
    name: str = Field(description="service name; the service id is '<name>-<uuid>'")
    compute_manager_id: Optional[str] = Field(None, description="id of the compute manager that started this service")

    # working directories
    shared_basedir: Path = Field(description="per-Task shared folders are made under this")
    scratch_basedir: Path = Field(description="per-ProtocolUnit scratch folders are made under this")
    keep_shared: bool = False
    keep_scratch: bool = False

    # execution
    n_retries: NonNegativeInt = Field(3, description="extra attempts for a failing ProtocolUnit")
    sleep_interval: PositiveFloat = Field(30, description="seconds to wait when nothing was claimed")
    deep_sleep_interval: PositiveFloat = Field(300, description="seconds to wait when claiming was denied")
    heartbeat_interval: PositiveFloat = Field(300, description="seconds between heartbeats")
    max_concurrent_tasks: PositiveInt = Field(1, description="Tasks run at once, each in a worker process of its own")
    devices: Optional[list[str]] = Field(
        None, description="GPU ids for the workers, round-robin, exported as CUDA_VISIBLE_DEVICES; None: leave it"
    )
    max_task_time: Optional[PositiveFloat] = Field(
        None, description="kill a Task running longer than this many seconds and push its failure"
    )
    worker_max_tasks: Optional[PositiveInt] = Field(
        None, description="replace a warm worker by a fresh process after this many Tasks (1: one per Task)"
    )
    worker_preload: list[str] = Field(
        list(PRELOAD_MODULES), description="modules a worker imports before its first Task"
    )

    # what to claim
    scopes: Optional[list[Scope]] = Field(None, description="claim only in these scopes; None means all")
    scopes_exclude: Optional[list[Scope]] = Field(None, description="never claim in these scopes")
    protocols: Optional[list[str]] = Field(None, description="claim only Tasks of these Protocol class names")
    claim_limit: PositiveInt = Field(1, description="Tasks claimed at once, run one after another (one slot only)")

    # lifetime
    max_tasks: Optional[PositiveInt] = Field(None, description="stop after this many Tasks")
    max_time: Optional[PositiveFloat] = Field(None, description="claim nothing new after this many seconds")

    # logging
    loglevel: LogLevel = "WARN"
    logfile: Optional[Path] = None
    log_format: Literal["text", "json"] = Field("text", description="log lines as text or one JSON object each")

    # metrics (see compute/metrics.py)
    metrics_port: Optional[int] = Field(
        None, ge=0, le=65535, description="serve Prometheus metrics on this port (0: any free one); None: off"
    )
    metrics_host: str = Field("127.0.0.1", description="address the metrics endpoint binds")

    # client
    client_cache_directory: Optional[Path] = None
    client_cache_size_limit: PositiveInt = DEFAULT_CACHE_SIZE_LIMIT
    client_use_local_cache: bool = False
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

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        ComputeServiceID.new_from_name(value)  # raises a clear ValueError for a bad name
        return value

    @field_validator("compute_manager_id")
    @classmethod
    def _check_manager_id(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else str(ComputeManagerID(value))

    @field_validator("scopes", "scopes_exclude", mode="before")
    @classmethod
    def _parse_scopes(cls, value: Any, info) -> Optional[list]:
        if value is None:
            return None
        if isinstance(value, (str, Scope)):
            value = [value]
        if not isinstance(value, list):
            raise ValueError(f"{info.field_name} must be a list of 'org-campaign-project' strings")
        if not value and info.field_name == "scopes_exclude":
            return None
        if not value:
            raise ValueError("scopes must name at least one scope, or be left out to mean all scopes ('*-*-*')")
        return [Scope.from_str(item) if isinstance(item, str) else item for item in value]

    @field_validator("protocols")
    @classmethod
    def _check_protocols(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        if value is not None and not value:
            raise ValueError("protocols must name at least one Protocol class, or be left out to allow all")
        return value

    @field_validator("devices", mode="before")
    @classmethod
    def _check_devices(cls, value: Any) -> Optional[list[str]]:
        if value is None:
            return None
        if isinstance(value, list) and all(isinstance(device, (int, str)) for device in value):
            value = [str(device) for device in value]  # YAML reads [0, 1] as numbers
        if not isinstance(value, list) or not value or any(not d.strip() or " " in d for d in value):
            raise ValueError(
                "devices must list GPU ids as CUDA_VISIBLE_DEVICES takes them (e.g. ['0', '1']), "
                "or be left out to leave CUDA_VISIBLE_DEVICES as it is"
            )
        return value

    @model_validator(mode="after")
    def _check_retry_policy(self) -> "ComputeServiceSettings":
        """The client's retry rules live in RetryPolicy; a config it refuses fails here, not at start."""
        try:
            RetryPolicy(self.client_max_retries, self.client_retry_base_seconds, self.client_retry_max_seconds)
        except ValueError as e:
            raise ValueError(f"client_{e}") from None  # RetryPolicy names the setting without its prefix
        return self

    @classmethod
    def from_yaml(
        cls, path: Union[str, Path], overrides: Optional[Mapping[str, Any]] = None
    ) -> "ComputeServiceSettings":
        """Load a flat YAML file; ``overrides`` (e.g. from the command line) win, ``None`` values are skipped."""
        path = Path(path)
        data = read_yaml(path, "compute service config", ComputeServiceSettingsError)
        if not isinstance(data, dict):
            raise ComputeServiceSettingsError(
                f"compute service config {path} must be a mapping of setting names to values, "
                f"got {type(data).__name__}"
            )
        nested = [section for section in _OLD_SECTIONS if isinstance(data.get(section), dict)]
        if nested:
            raise ComputeServiceSettingsError(
                f"compute service config {path} uses the old nested layout ({', '.join(nested)}: sections); "
                "move every setting to the top level of the file (a flat mapping, e.g. 'api_url: ...', "
                "'sleep_interval: 30'); see devtools/configs/synchronous-compute-settings.yaml"
            )
        data.update({name: value for name, value in (overrides or {}).items() if value is not None})
        try:
            return cls(**data)
        except ValidationError as e:
            raise ComputeServiceSettingsError(f"invalid compute service config {path}: {describe_errors(e)}") from None


def describe_errors(error: ValidationError) -> str:
    """``setting: problem`` for each error, on one line (pydantic's own text spans three lines per error)."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)
