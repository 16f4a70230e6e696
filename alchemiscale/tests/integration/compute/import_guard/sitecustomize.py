"""Refuse (and log) imports of gufe, the chemistry stack and Protocol packages in a server process.

Put this folder first on ``PYTHONPATH`` and set ``ALCHEMISCALE_IMPORT_GUARD_LOG`` to a file path; the
file is created at start-up (proof the guard is active) and gets one line per refused import.
"""

import os
import sys
from importlib.abc import MetaPathFinder

FORBIDDEN_TOP_LEVEL = {"gufe", "rdkit", "openmm", "simtk", "openff", "openmmtools", "pymbar", "openfe", "feflow"}
FORBIDDEN_MODULES = ("alchemiscale.protocols", "alchemiscale.serialization.gufe_chain", "alchemiscale.examples", "alchemiscale.tests")


class ImportGuard(MetaPathFinder):
    def __init__(self, log_path: str):
        self.log_path = log_path

    def find_spec(self, fullname, path=None, target=None):
        forbidden = fullname.split(".")[0] in FORBIDDEN_TOP_LEVEL or any(
            fullname == name or fullname.startswith(name + ".") for name in FORBIDDEN_MODULES
        )
        if forbidden:
            with open(self.log_path, "a") as log:
                log.write(f"{fullname}\n")
            raise ImportError(f"{fullname} may not be imported by a server process")
        return None


_log_path = os.environ.get("ALCHEMISCALE_IMPORT_GUARD_LOG")
if _log_path:
    open(_log_path, "a").close()
    sys.meta_path.insert(0, ImportGuard(_log_path))
