"""``.. settings-table:: module.Model``: a table of a settings model's fields, read from the model itself.

Names, defaults and descriptions are stated once, in the pydantic models; this page only shows them.
"""

from __future__ import annotations

import importlib

from docutils import nodes
from docutils.parsers.rst import Directive
from pydantic_core import PydanticUndefined


def _cell(text: str, literal: bool = False) -> nodes.entry:
    entry = nodes.entry()
    paragraph = nodes.paragraph()
    paragraph += nodes.literal(text=text) if literal and text else nodes.Text(text)
    entry += paragraph
    return entry


def _default(info) -> str:
    if info.is_required():
        return "required"
    default = info.get_default(call_default_factory=True)
    return "unset" if default is None or default is PydanticUndefined else repr(default)


class SettingsTable(Directive):
    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module_name, _, class_name = self.arguments[0].rpartition(".")
        model = getattr(importlib.import_module(module_name), class_name)
        table = nodes.table()
        group = nodes.tgroup(cols=3)
        table += group
        for width in (30, 15, 55):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        row = nodes.row()
        for title in ("setting", "default", "meaning"):
            row += _cell(title)
        head += row
        group += head
        body = nodes.tbody()
        for name, info in model.model_fields.items():
            row = nodes.row()
            row += _cell(name, literal=True)
            row += _cell(_default(info), literal=not info.is_required())
            row += _cell(info.description or "")
            body += row
        group += body
        return [table]


def setup(app):
    app.add_directive("settings-table", SettingsTable)
    return {"parallel_read_safe": True}
