"""Commands that run the servers (both APIs under gunicorn) and the synchronous compute service.

A value given on the command line is exported to the environment before the API starts, so gunicorn's
workers (which import the app and read settings from the environment) see exactly what the command
was given.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import click
import yaml

from ..settings import APISettings, ComputeAPISettings
from .options import db_options, export_settings, gunicorn_options, jwt_options, objectstore_options, setting_option


def export_server_settings(params: dict[str, Any]) -> None:
    """Put every given server setting in the environment, where the apps read them."""
    export_settings(click.get_current_context())
    if params.get("object_store") == "local" and not params.get("local_root"):
        raise click.UsageError("--object-store=local needs --local-object-store-root (ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT)")
    if params.get("object_store") == "s3":
        missing = [opt for opt, key in (("--s3-bucket", "s3_bucket"), ("--s3-prefix", "s3_prefix"),
                                         ("--default-region", "default_region")) if not params.get(key)]
        if missing:
            raise click.UsageError(f"--object-store=s3 needs {', '.join(missing)} (or their environment variables)")


# Seconds an idle client connection stays open (gunicorn's own default is 2 s). Compute services poll
# every few seconds on one pooled connection; with a shorter keep-alive their next request can
# race the server's close and meet a reset. Override with ``-j '{"keepalive": N}'``.
GUNICORN_KEEPALIVE_SECONDS = 75


def gunicorn_settings(params: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {"keepalive": GUNICORN_KEEPALIVE_SECONDS}
    if params.get("config_file"):
        extra.update(yaml.safe_load(params["config_file"]) or {})
    if params.get("config_json"):
        try:
            extra.update(json.loads(params["config_json"]))
        except json.JSONDecodeError as e:
            raise click.BadParameter(f"not valid JSON: {e}", param_hint="--config-json") from None
    return {
        **extra,
        "workers": params["workers"],
        "bind": f"{params['host']}:{params['port']}",
        "loglevel": params["loglevel"],
        "worker_class": "uvicorn_worker.UvicornWorker",
    }


def prepare_metrics_dir() -> None:
    """Multiprocess metrics (see ``base/metrics.py``): ``PROMETHEUS_MULTIPROC_DIR`` as given, emptied of
    a previous run's files, or a fresh folder; set before any worker imports prometheus-client."""
    import tempfile

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="alchemiscale-metrics-")


def _metrics_child_exit(server, worker) -> None:
    """gunicorn hook: a dead worker's live gauges leave the sum; its counters stay."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def run_gunicorn(app_path: str, settings: dict[str, Any]) -> None:
    from gunicorn.app.base import BaseApplication

    prepare_metrics_dir()
    settings = {"child_exit": _metrics_child_exit, **settings}

    class ApiApplication(BaseApplication):
        def load_config(self):
            valid = {k: v for k, v in settings.items() if k in self.cfg.settings and v is not None}
            for key, value in valid.items():
                self.cfg.set(key.lower(), value)

        def load(self):
            module, _, attribute = app_path.partition(":")
            return getattr(__import__(module, fromlist=[attribute]), attribute)

    ApiApplication().run()



@click.command(help="Run the user-facing API under gunicorn with uvicorn workers.")
@gunicorn_options(APISettings, "ALCHEMISCALE_API")
@db_options
@objectstore_options
@jwt_options
def api(**params):
    export_server_settings(params)
    run_gunicorn("alchemiscale.interface.api:app", gunicorn_settings(params))


@click.group(help="Compute API and compute services.")
def compute():
    pass


@compute.command(name="api", help="Run the compute API under gunicorn with uvicorn workers.")
@gunicorn_options(ComputeAPISettings, "ALCHEMISCALE_COMPUTE_API")
@db_options
@objectstore_options
@jwt_options
@setting_option(ComputeAPISettings, "ALCHEMISCALE_COMPUTE_API_REGISTRATION_EXPIRE_SECONDS",
                "--registration-expire-seconds")
def compute_api(registration_expire_seconds, **params):
    export_server_settings(params)
    run_gunicorn("alchemiscale.compute.api:app", gunicorn_settings(params))


@compute.command(help="Run a synchronous compute service configured by a flat YAML file.")
@click.option("-c", "--config-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="YAML settings for the service (see devtools/configs/synchronous-compute-settings.yaml).")
@click.option("-n", "--name", help="Override the service name from the config file.")
@click.option("-m", "--compute-manager-id", help="Register under this compute manager.")
@click.option("--debug", is_flag=True, help="Log at DEBUG level, with the traceback of an expected failure.")
def synchronous(config_file: Path, name: Optional[str], compute_manager_id: Optional[str], debug: bool):
    from ..base.client import AlchemiscaleClientError
    from ..compute.service import ComputeServiceError, SynchronousComputeService
    from ..compute.settings import ComputeServiceSettings, ComputeServiceSettingsError
    from ..compute.signals import install_stop_handlers

    overrides = {"name": name, "compute_manager_id": compute_manager_id, "loglevel": "DEBUG" if debug else None}
    try:
        settings = ComputeServiceSettings.from_yaml(config_file, overrides)
        service = SynchronousComputeService(settings)
    except ComputeServiceSettingsError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:  # e.g. a working folder that cannot be created
        raise click.ClickException(f"cannot set up the compute service of {config_file}: {e}") from None
    install_stop_handlers(service)
    try:
        service.start()
    except (AlchemiscaleClientError, ComputeServiceError):
        sys.exit(1)  # the service has logged why (one line; the traceback of an unexpected error)
