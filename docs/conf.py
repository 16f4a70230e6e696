"""Sphinx configuration for the alchemiscale documentation."""

project = "alchemiscale"
author = "alchemiscale developers"
copyright = "2026, alchemiscale developers"

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode", "sphinx_click", "settings_table"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []


def _escape_stars(app, ctx, lines):
    """Click help is plain text: a literal ``*`` (scope wildcards, globs) must not start RST emphasis."""
    lines[:] = [line.replace("*", r"\*") for line in lines]


def setup(app):
    for event in ("description", "options", "arguments", "epilog"):
        app.connect(f"sphinx-click-process-{event}", _escape_stars)
