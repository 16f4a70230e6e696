"""Settings of a compute manager, read from a YAML file with a ``manager:`` and a ``service:`` section.

``manager`` holds :class:`ComputeManagerSettings` (upstream's fields) plus the platform's own
(``kind: local`` or ``kind: slurm``); ``service`` is the
:class:`~alchemiscale.compute.settings.ComputeServiceSettings` every started service gets, its
``name`` the stem of theirs. The manager talks to the API with the service section's ``api_url``,
``identifier`` and ``key``. Templates: ``devtools/configs/*-compute-manager.yaml``.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
)

from ...base.config_files import LogLevel, read_yaml
from ...models import ComputeManagerID
from ..settings import ComputeServiceSettings

_SECTIONS = ("manager", "service")


class ComputeManagerSettingsError(ValueError):
    """A compute manager configuration file cannot be used; the message says why."""


class ComputeManagerSettings(BaseModel):
    """What every compute manager needs, as upstream names it."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    name: str = Field(description="manager name, unique among registered managers; its id is '<name>-<uuid>'")
    logfile: Optional[Path] = Field(None, description="also write the manager's log here")
    max_compute_services: PositiveInt = Field(description="most compute services running at once")
    max_submit_per_cycle: PositiveInt = Field(1, description="most compute services started in one cycle")
    sleep_interval: PositiveFloat = Field(1800, description="seconds between instructions")
    loglevel: LogLevel = "WARN"
    client_max_retries: NonNegativeInt = 5
    client_retry_base_seconds: PositiveFloat = 2.0
    client_retry_max_seconds: PositiveFloat = 60.0
    stop_services_on_exit: bool = Field(
        True, description="stop the services this manager started when it stops (their Tasks go back to waiting)"
    )
    workdir: Path = Field(description="generated service configs and service logs go here")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        ComputeManagerID.new_from_name(value)  # raises a clear ValueError for a bad name
        return value


class LocalComputeManagerSettings(ComputeManagerSettings):
    """Compute services as child processes on this host."""

    kind: Literal["local"]
    python: Path = Field(Path(sys.executable), description="interpreter that runs the compute services")
    stop_timeout: PositiveFloat = Field(
        60, description="seconds a stopped service has to deregister before it is killed"
    )


class SlurmComputeManagerSettings(ComputeManagerSettings):
    """Compute services as SLURM batch jobs, one service per job, submitted with psij-python."""

    kind: Literal["slurm"]
    python: Path = Field(
        Path(sys.executable), description="interpreter, as seen on the compute nodes, that runs the services"
    )
    partition: Optional[str] = Field(None, description="SLURM partition (queue); None: the cluster's default")
    account: Optional[str] = None
    gpus_per_job: NonNegativeInt = Field(0, description="GPUs per job (--gpus-per-task); 0: none requested")
    cpus_per_job: Optional[PositiveInt] = Field(None, description="--cpus-per-task; None: the cluster's default")
    time_limit: Optional[timedelta] = Field(
        None, description="job wall time, e.g. '02:00:00' or seconds; None: the partition's limit"
    )
    sbatch_options: dict[str, str] = Field(
        default_factory=dict, description="more #SBATCH options by long name, e.g. {gres: 'gpu:a100:1', qos: low}"
    )
    environment: dict[str, str] = Field(default_factory=dict, description="extra environment variables of each job")
    queue_polling_interval: PositiveInt = Field(30, description="seconds between squeue polls")

    @field_validator("sbatch_options")
    @classmethod
    def _check_options(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = {"job-name", "output", "error", "export", "chdir", "o", "e"}
        clash = sorted(set(value) & reserved)
        if clash:
            raise ValueError(f"sbatch_options cannot set {', '.join(clash)}: the manager sets them itself")
        return {key: str(option) for key, option in value.items()}


PlatformSettings = Annotated[
    Union[LocalComputeManagerSettings, SlurmComputeManagerSettings], Field(discriminator="kind")
]


class ComputeManagerConfig(BaseModel):
    """A whole manager YAML file: the manager and the services it starts."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    manager: PlatformSettings
    service: ComputeServiceSettings

    @classmethod
    def from_yaml(cls, path: Union[str, Path]) -> "ComputeManagerConfig":
        path = Path(path)
        data = read_yaml(path, "compute manager config", ComputeManagerSettingsError)
        if not isinstance(data, dict) or not all(isinstance(data.get(s), dict) for s in _SECTIONS):
            raise ComputeManagerSettingsError(
                f"compute manager config {path} must be a mapping with a 'manager:' section (kind: local or slurm, "
                "name, max_compute_services, workdir, ...) and a 'service:' section (compute service settings); "
                "see devtools/configs/local-compute-manager.yaml"
            )
        try:
            return cls(**data)
        except ValidationError as e:
            raise ComputeManagerSettingsError(f"invalid compute manager config {path}:\n{e}") from None
