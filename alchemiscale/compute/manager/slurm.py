"""A compute manager whose services are SLURM batch jobs, one service per job.

Jobs are submitted, watched (``squeue``) and cancelled (``scancel``) through psij-python, the
ExaWorks job-submission library: it writes the batch script from a portable job description
(partition, account, wall time, GPUs, extra ``#SBATCH`` options) and needs no SLURM accounting
database. Each job runs ``python -m alchemiscale.compute.service -c <generated YAML>``; its
stdout and stderr go to ``workdir/logs/<service>.out`` and ``.err``, the service's own log to
``workdir/logs/<service>.log``, psij's scripts to ``workdir/psij``.

Cancelling a job (scale-down, ``scancel``, preemption) sends SIGTERM to the service, which stops
its Task, deregisters and so requeues it; a job killed outright is requeued by the server once its
heartbeats stop (``ALCHEMISCALE_COMPUTE_API_REGISTRATION_EXPIRE_SECONDS``).
"""

from __future__ import annotations

from pathlib import Path

from psij import Job, JobAttributes, JobExecutor, JobSpec, ResourceSpecV1, SubmitException
from psij.executors.batch.slurm import SlurmExecutorConfig

from ..settings import ComputeServiceSettings
from .base import ComputeManager, ComputeManagerError
from .settings import SlurmComputeManagerSettings


class SlurmComputeManager(ComputeManager):
    settings: SlurmComputeManagerSettings

    def __init__(self, settings: SlurmComputeManagerSettings, service_settings: ComputeServiceSettings):
        super().__init__(settings, service_settings)
        self.executor = JobExecutor.get_instance(
            "slurm",
            config=SlurmExecutorConfig(
                work_directory=self.workdir / "psij",
                queue_polling_interval=settings.queue_polling_interval,
                initial_queue_polling_delay=min(2, settings.queue_polling_interval),
            ),
        )
        self._jobs: dict[str, Job] = {}
        self._cancelled: set[str] = set()

    def job_spec(self, name: str, config_file: Path) -> JobSpec:
        """The psij description of the job that runs service ``name``."""
        settings = self.settings
        attributes = JobAttributes(queue_name=settings.partition, account=settings.account)
        attributes.duration = settings.time_limit  # None leaves the wall time to the partition
        attributes.set_custom_attribute("slurm.job-name", name)  # what squeue shows
        for option, value in settings.sbatch_options.items():
            attributes.set_custom_attribute(f"slurm.{option}", value)
        resources = ResourceSpecV1(
            process_count=1,
            cpu_cores_per_process=settings.cpus_per_job,
            gpu_cores_per_process=settings.gpus_per_job or None,
        )
        log = self.service_log(name)
        return JobSpec(
            executable=str(settings.python),
            arguments=["-m", "alchemiscale.compute.service", "-c", str(config_file)],
            directory=self.workdir,
            name=name,
            environment=dict(settings.environment),
            stdout_path=log.with_suffix(".out"),
            stderr_path=log.with_suffix(".err"),
            resources=resources,
            attributes=attributes,
        )

    def start_compute_service(self, name: str, config_file: Path) -> None:
        job = Job(self.job_spec(name, config_file))
        try:
            self.executor.submit(job)
        except SubmitException as e:
            raise ComputeManagerError(f"SLURM refused the job of compute service {name}: {e}") from e
        self._jobs[name] = job
        self.logger.info("submitted compute service %s as SLURM job %s", name, job.native_id)

    def running_compute_services(self) -> set[str]:
        for name, job in list(self._jobs.items()):
            if job.status.final:
                del self._jobs[name]
                self._cancelled.discard(name)
                self.logger.info("SLURM job %s (%s) ended: %s", job.native_id, name, job.status.state)
        return set(self._jobs) - self._cancelled

    def stop_compute_service(self, name: str) -> None:
        job = self._jobs.get(name)
        if job is None or name in self._cancelled:
            return
        self._cancelled.add(name)
        try:
            self.executor.cancel(job)
        except SubmitException as e:
            raise ComputeManagerError(f"could not cancel SLURM job {job.native_id} ({name}): {e}") from e
        self.logger.info("cancelled SLURM job %s (%s)", job.native_id, name)

    def job_id(self, name: str) -> str:
        """The SLURM job id of service ``name``."""
        return self._jobs[name].native_id
