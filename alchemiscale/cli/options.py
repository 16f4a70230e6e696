"""Click options derived from the settings models, so each setting's name, default and help live once.

An option made by :func:`setting_option` reads the environment variable named after its settings
field and shows it in ``--help``; :func:`export_settings` puts every such option given on the
command line back into the environment, where the API processes (gunicorn workers) read them.
"""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal, Union

import annotated_types
import click
from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from ..settings import (
    JWTSettings,
    LocalObjectStoreSettings,
    LoggingSettings,
    Neo4jStoreSettings,
    ObjectStoreSettings,
    S3ObjectStoreSettings,
)


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            bounds["min"] = item.ge
        elif isinstance(item, annotated_types.Gt):
            bounds["min"], bounds["min_open"] = item.gt, True
        elif isinstance(item, annotated_types.Le):
            bounds["max"] = item.le
        elif isinstance(item, annotated_types.Lt):
            bounds["max"], bounds["max_open"] = item.lt, True
    return bounds


def click_type(annotation: Any, metadata: list[Any]) -> Any:
    """The click parameter type of a settings field: choices, bounded numbers, paths or text."""
    annotation = _unwrap_optional(annotation)
    if typing.get_origin(annotation) is Literal:
        return click.Choice([str(choice) for choice in typing.get_args(annotation)])
    bounds = _bounds(metadata)
    if annotation is int:
        return click.IntRange(**bounds) if bounds else click.INT
    if annotation is float:
        return click.FloatRange(**bounds) if bounds else click.FLOAT
    if annotation is bool:
        return click.BOOL
    if annotation is Path:
        return click.Path(path_type=Path)
    if annotation in (str, SecretStr):
        return click.STRING
    raise TypeError(f"no click type for settings annotation {annotation!r}")


def setting_option(model: type[BaseModel], field: str, *decls: str, **overrides: Any) -> Callable:
    """A click option for ``model.field``: its environment variable, type, default, help and required-ness.

    ``overrides`` win (e.g. ``required=False`` for a field needed only with one backend).
    """
    info = model.model_fields[field]
    default = info.get_default(call_default_factory=True)
    kwargs: dict[str, Any] = {
        "envvar": field,
        "show_envvar": True,
        "type": click_type(info.annotation, info.metadata),
        "help": info.description,
    }
    if info.is_required():
        kwargs["required"] = True
    elif default is not None and default is not PydanticUndefined:
        kwargs["default"] = default
        kwargs["show_default"] = True
    kwargs.update(overrides)
    return click.option(*decls, **kwargs)


def apply(func: Callable, options: list[Callable]) -> Callable:
    """Decorate ``func`` with ``options`` so they appear in ``--help`` in the listed order."""
    for option in reversed(options):
        func = option(func)
    return func


def export_settings(ctx: click.Context) -> None:
    """Export each given value of a settings-backed option of the running command to its variable."""
    for param in ctx.command.params:
        envvar = param.envvar if isinstance(param, click.Option) else None
        value = ctx.params.get(param.name) if param.name else None
        if isinstance(envvar, str) and value is not None:
            os.environ[envvar] = str(value)


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
