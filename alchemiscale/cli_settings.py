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
