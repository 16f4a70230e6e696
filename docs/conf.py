"""Sphinx configuration for the alchemiscale documentation."""

project = "alchemiscale"
author = "alchemiscale developers"
copyright = "2026, alchemiscale developers"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_mock_imports = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
