"""The ``alchemiscale`` command line.

Options tied to settings are derived from the settings models (``settings.py``, through
``cli_settings.py``), so names, defaults and help are stated once, and show their environment
variable; a value given on the command line is exported to the environment before the API starts,
so gunicorn's workers (which import the app and read settings from the environment) see exactly
what the command was given.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import click
import yaml
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from .cli_settings import apply, export_settings, setting_option
from .models import Scope
from .settings import (
    APISettings,
    ComputeAPISettings,
    JWTSettings,
    LocalObjectStoreSettings,
    LoggingSettings,
    Neo4jStoreSettings,
    ObjectStoreSettings,
    S3ObjectStoreSettings,
)


def db_options(func: Callable) -> Callable:
    return apply(func, [
        setting_option(Neo4jStoreSettings, "NEO4J_URL", "--url", "neo4j_url"),
        setting_option(Neo4jStoreSettings, "NEO4J_USER", "--user", "neo4j_user"),
        setting_option(Neo4jStoreSettings, "NEO4J_PASS", "--password", "neo4j_pass"),
        setting_option(Neo4jStoreSettings, "NEO4J_DBNAME", "--dbname", "neo4j_dbname"),
    ])


def objectstore_options(func: Callable) -> Callable:
    s3 = S3ObjectStoreSettings
    return apply(func, [
        setting_option(ObjectStoreSettings, "ALCHEMISCALE_OBJECT_STORE", "--object-store", "object_store"),
        setting_option(LocalObjectStoreSettings, "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT", "--local-object-store-root",
                       "local_root", required=False, type=click.Path(file_okay=False, path_type=Path),
                       help="Folder holding results when --object-store=local."),
        setting_option(s3, "AWS_ACCESS_KEY_ID", "--access-key-id"),
        setting_option(s3, "AWS_SECRET_ACCESS_KEY", "--secret-access-key"),
        setting_option(s3, "AWS_SESSION_TOKEN", "--session-token"),
        setting_option(s3, "AWS_S3_BUCKET", "--s3-bucket", required=False,
                       help="S3 bucket name (required for --object-store=s3)."),
        setting_option(s3, "AWS_S3_PREFIX", "--s3-prefix", required=False,
                       help="Key prefix inside the bucket (required for s3)."),
        setting_option(s3, "AWS_DEFAULT_REGION", "--default-region", required=False,
                       help="S3 region (required for s3)."),
        setting_option(s3, "AWS_ENDPOINT_URL", "--endpoint-url"),
    ])


def jwt_options(func: Callable) -> Callable:
    return apply(func, [
        setting_option(JWTSettings, "JWT_SECRET_KEY", "--jwt-secret"),
        setting_option(JWTSettings, "JWT_EXPIRE_SECONDS", "--jwt-expire-seconds"),
        setting_option(JWTSettings, "JWT_ALGORITHM", "--jwt-algorithm"),
    ])


def gunicorn_options(settings: type[BaseModel], prefix: str) -> Callable:
    """Options of a gunicorn-served API whose ``settings`` fields are ``{prefix}_HOST``, ``_PORT``, ``_LOGLEVEL``."""
    def decorate(func: Callable) -> Callable:
        return apply(func, [
            click.option("--workers", type=int, default=1, show_default=True,
                         help="Number of gunicorn worker processes."),
            setting_option(settings, f"{prefix}_HOST", "--host"),
            setting_option(settings, f"{prefix}_PORT", "--port"),
            setting_option(settings, f"{prefix}_LOGLEVEL", "--loglevel"),
            setting_option(LoggingSettings, "ALCHEMISCALE_LOG_FORMAT", "--log-format", default="text",
                           show_default=True),
            click.option("-c", "--config-file", type=click.File(), help="YAML file of extra gunicorn settings."),
            click.option("-j", "--config-json", help="JSON of extra gunicorn settings (overrides the YAML file)."),
        ])

    return decorate


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


@click.group(help="alchemiscale: run alchemical free energy calculations at scale.")
@click.version_option(package_name="alchemiscale")
def cli():
    pass


@cli.command(help="Run the user-facing API under gunicorn with uvicorn workers.")
@gunicorn_options(APISettings, "ALCHEMISCALE_API")
@db_options
@objectstore_options
@jwt_options
def api(**params):
    export_server_settings(params)
    run_gunicorn("alchemiscale.interface.api:app", gunicorn_settings(params))


@cli.group(help="Compute API and compute services.")
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
    from .base.client import AlchemiscaleClientError
    from .compute.service import ComputeServiceError, SynchronousComputeService
    from .compute.settings import ComputeServiceSettings, ComputeServiceSettingsError
    from .compute.signals import install_stop_handlers

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


def _store(params: dict[str, Any]):
    from .storage.statestore import Neo4jStore

    settings = Neo4jStoreSettings(
        NEO4J_URL=params["neo4j_url"], NEO4J_USER=params["neo4j_user"],
        NEO4J_PASS=params["neo4j_pass"], NEO4J_DBNAME=params["neo4j_dbname"],
    )
    return Neo4jStore.from_settings(settings)


@cli.group(help="Manage the Neo4j state store.")
def database():
    pass


@database.command(help="Create the constraints and indexes the state store needs.")
@db_options
def init(**params):
    store = _store(params)
    try:
        store.initialize()
    finally:
        store.close()
    click.echo("Database initialized.")


@database.command(help="Check that the database has every constraint and index the state store needs.")
@db_options
def check(**params):
    from .storage.statestore import Neo4jStoreError

    store = _store(params)
    try:
        store.check()
    except Neo4jStoreError as e:
        raise click.ClickException(f"{e}\nRun `alchemiscale database init` to create what is missing.")
    finally:
        store.close()
    click.echo("No inconsistencies found.")


@database.command(help="Delete EVERYTHING in the database, including identities, and drop its constraints.")
@db_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(yes: bool, **params):
    if not yes:
        click.confirm(f"Delete all data in {params['neo4j_url']} ({params['neo4j_dbname']})?", abort=True)
    store = _store(params)
    try:
        store.reset()
    finally:
        store.close()
    click.echo("Database reset.")


IDENTITY_TYPES = {"user": "CredentialedUserIdentity", "compute": "CredentialedComputeIdentity"}


def _identity_cls(identity_type: str):
    from .security import models

    return getattr(models, IDENTITY_TYPES[identity_type])


identity_type_option = click.option("-t", "--identity-type", type=click.Choice(sorted(IDENTITY_TYPES)), default="user",
                                    show_default=True, help="Kind of identity.")
identifier_option = click.option("-i", "--identifier", required=True, help="Identity name.")
scope_option = click.option("-s", "--scope", "scopes", multiple=True, required=True,
                            help="Scope as org-campaign-project ('*' allowed as trailing wildcards); repeatable.")


def _parse_scopes(scopes: tuple[str, ...]) -> list[Scope]:
    try:
        return [Scope.from_str(s) for s in scopes]
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--scope") from None


@cli.group(help="Manage user and compute identities.")
def identity():
    pass


@identity.command(name="add", help="Add an identity; with --replace, give an existing one a new key.")
@db_options
@identity_type_option
@identifier_option
@click.option("-k", "--key", help="Secret key (prompted for when not given).")
@click.option("--expires", type=click.DateTime(), help="Expiry time (UTC); the identity cannot log in afterwards.")
@click.option("--replace", is_flag=True, help="Replace the key (and expiry) of an existing identity; its scopes stay.")
def identity_add(identity_type, identifier, key, expires, replace, **params):
    from .security.auth import hash_key

    cls = _identity_cls(identity_type)
    store = _store(params)
    try:
        try:
            scopes = [str(s) for s in store.list_scopes(identifier, cls)]
            exists = True
        except KeyError:
            scopes, exists = [], False
        if exists and not replace:
            raise click.ClickException(
                f"{identity_type} identity {identifier!r} already exists; pass --replace to give it a new key "
                "(its scopes are kept), or choose another identifier"
            )
        if key is None:
            key = click.prompt("Key", hide_input=True, confirmation_prompt=True)
        store.create_credentialed_entity(
            cls(identifier=identifier, hashed_key=hash_key(key), scopes=scopes, expires=expires)
        )
    finally:
        store.close()
    if exists:
        kept = f"; kept its scopes {', '.join(scopes)}" if scopes else ""
        click.echo(f"Replaced the key of {identity_type} identity {identifier!r}{kept}.")
    else:
        click.echo(f"Added {identity_type} identity {identifier!r}.")


@identity.command(name="list", help="List identities of one type.")
@db_options
@identity_type_option
def identity_list(identity_type, **params):
    store = _store(params)
    try:
        identifiers = store.list_credentialed_entities(_identity_cls(identity_type))
    finally:
        store.close()
    table = Table(title=f"{identity_type} identities")
    table.add_column("identifier")
    for identifier in sorted(identifiers):
        table.add_row(identifier)
    Console().print(table)


def _with_identity(action: Callable[..., Any], params: dict[str, Any], identity_type: str, identifier: str, *args):
    store = _store(params)
    try:
        return action(store, identifier, _identity_cls(identity_type), *args)
    except KeyError:
        raise click.ClickException(
            f"no {identity_type} identity {identifier!r}; see `alchemiscale identity list -t {identity_type}`"
        ) from None
    finally:
        store.close()


@identity.command(name="remove", help="Remove an identity.")
@db_options
@identity_type_option
@identifier_option
def identity_remove(identity_type, identifier, **params):
    _with_identity(lambda s, i, c: s.remove_credentialed_identity(i, c), params, identity_type, identifier)
    click.echo(f"Removed {identity_type} identity {identifier!r}.")


@identity.command(name="add-scope", help="Grant scopes to an identity.")
@db_options
@identity_type_option
@identifier_option
@scope_option
def identity_add_scope(identity_type, identifier, scopes, **params):
    for scope in _parse_scopes(scopes):
        _with_identity(lambda s, i, c, sc: s.add_scope(i, c, sc), params, identity_type, identifier, scope)
    click.echo(f"Granted {', '.join(scopes)} to {identifier!r}.")


@identity.command(name="list-scope", help="List the scopes of an identity.")
@db_options
@identity_type_option
@identifier_option
def identity_list_scope(identity_type, identifier, **params):
    scopes = _with_identity(lambda s, i, c: s.list_scopes(i, c), params, identity_type, identifier)
    table = Table(title=f"scopes of {identifier}")
    table.add_column("scope")
    for scope in sorted(scopes):
        table.add_row(str(scope))
    Console().print(table)


@identity.command(name="remove-scope", help="Revoke scopes from an identity.")
@db_options
@identity_type_option
@identifier_option
@scope_option
def identity_remove_scope(identity_type, identifier, scopes, **params):
    for scope in _parse_scopes(scopes):
        _with_identity(lambda s, i, c, sc: s.remove_scope(i, c, sc), params, identity_type, identifier, scope)
    click.echo(f"Revoked {', '.join(scopes)} from {identifier!r}.")


def _local_deployment(data_dir: Path):
    from .local import LocalDeployment

    return LocalDeployment(data_dir)


data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("alchemiscale-data"),
    envvar="ALCHEMISCALE_LOCAL_DATA_DIR", show_envvar=True, show_default=True,
    help="Folder holding the deployment's database, results, secrets, logs and state.",
)


def _port_option(name: str, default: int, what: str) -> Callable:
    return click.option(name, type=click.IntRange(1, 65535),
                        help=f"Port of {what} (default: the last one used, else {default}).")


@cli.group(help="Run a complete deployment (Neo4j, both APIs, compute services) on this machine.")
def local():
    pass


@local.command(name="up", help="Start a local deployment in the background; data is kept across restarts.")
@data_dir_option
@click.option("-n", "--compute-services", type=click.IntRange(min=0), default=1, show_default=True,
              help="Number of synchronous compute services to start.")
@_port_option("--user-port", 1840, "the user API")
@_port_option("--compute-port", 1841, "the compute API")
@_port_option("--neo4j-port", 7687, "Neo4j's Bolt listener")
def local_up(data_dir: Path, compute_services: int, user_port, compute_port, neo4j_port):
    from .local import LocalDeploymentError

    deployment = _local_deployment(data_dir)
    console = Console()
    try:
        with console.status(f"Starting the local deployment in {deployment.data_dir}..."):
            result = deployment.up(compute_services, user_port, compute_port, neo4j_port)
    except LocalDeploymentError as e:
        raise click.ClickException(str(e)) from None
    _print_status(deployment, console)
    if result.first_start:
        console.print(f"Created user identity [bold]{result.user_identifier}[/bold] with key "
                      f"[bold]{result.user_key}[/bold] (scope *-*-*). It is shown only this once; it is kept in "
                      f"{deployment.credentials_path} (readable only by you).")
    console.print(f"Use it with: source {deployment.credentials_path}  (then AlchemiscaleClient() needs no "
                  "arguments). Logs: " + str(deployment.logs_dir))


def _print_status(deployment, console: Console) -> bool:
    rows = deployment.status()
    table = Table(title=f"local deployment in {deployment.data_dir}")
    for column in ("component", "health", "pid", "address", "detail"):
        table.add_column(column, no_wrap=column in ("health", "pid", "address"))
    for row in rows:
        health = "[green]healthy[/green]" if row.healthy else "[red]down[/red]"
        table.add_row(row.name, health, str(row.pid or "—"), row.address, row.detail)
    console.print(table)
    return all(row.healthy for row in rows)


@local.command(name="status", help="Show the health of each component of a local deployment.")
@data_dir_option
def local_status(data_dir: Path):
    if not _print_status(_local_deployment(data_dir), Console()):
        sys.exit(1)


@local.command(name="down", help="Stop every process of a local deployment; its data is kept.")
@data_dir_option
def local_down(data_dir: Path):
    from .local import LocalDeploymentError

    deployment = _local_deployment(data_dir)
    try:
        stopped = deployment.down()
    except LocalDeploymentError as e:
        raise click.ClickException(str(e)) from None
    if stopped:
        click.echo(f"Stopped {', '.join(stopped)}; data kept in {deployment.data_dir}.")
    else:
        click.echo(f"Nothing was running in {deployment.data_dir}.")


@cli.command(help="Compute hydration free energies of three small molecules on a temporary local deployment.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Use (or create) this deployment folder instead of a temporary one.")
@click.option("-n", "--compute-services", type=click.IntRange(min=1), default=3, show_default=True,
              help="Number of compute services (one per molecule runs them all at once).")
@click.option("--keep", is_flag=True, help="Leave the deployment running afterwards.")
def demo(data_dir: Optional[Path], compute_services: int, keep: bool):
    from .base.client import AlchemiscaleClientError
    from .local import LocalDeploymentError
    from .local.demo import DemoError, run_demo

    try:
        outcomes = run_demo(data_dir, compute_services, keep)
    except (LocalDeploymentError, DemoError) as e:
        raise click.ClickException(str(e)) from None
    except AlchemiscaleClientError as e:
        raise click.ClickException(f"{e}\nThe API logs are in the deployment's logs/ folder.") from None
    if any(outcome.estimate is None for outcome in outcomes):
        raise click.ClickException("some calculations failed (see above); the compute service logs say more")


from .compute.manager.cli import computemanager  # noqa: E402

cli.add_command(computemanager)

from .strategist.cli import strategist  # noqa: E402

cli.add_command(strategist)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cli())
