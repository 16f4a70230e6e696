"""Where and with what a result was computed, recorded in every ProtocolUnitResult.

Each ProtocolUnitResult (successful or failed) made by a compute service carries a
``provenance`` entry in its ``outputs``::

    {"hostname": ..., "gpu": "NVIDIA H100 80GB HBM3" | None, "device": "0" | None,
     "versions": {"python": ..., "alchemiscale": ..., "gufe": ..., "openmm": ...},
     "compute_service_id": ..., "task": ..., "attempt": 0,
     "start": "2025-01-01T00:00:00.000000+00:00", "end": ...}

so that it survives gufe serialization and is read back with ``result.outputs["provenance"]``.
A unit that returns its own ``provenance`` output keeps it untouched.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from typing import Any, Optional

PROVENANCE_KEY = "provenance"
VERSIONED_PACKAGES = ("alchemiscale", "gufe", "openmm")
_NVIDIA_SMI_TIMEOUT_SECONDS = 10


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def package_versions() -> dict[str, Optional[str]]:
    versions: dict[str, Optional[str]] = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def gpu_model(visible: Optional[str] = None) -> Optional[str]:
    """Names of the GPUs ``visible`` names, by default those this process may use (as ``nvidia-smi`` reports them), or None.

    Honours ``CUDA_VISIBLE_DEVICES`` when ``visible`` is None. Asking OpenMM instead would mean creating a CUDA Context,
    which costs seconds and GPU memory, so without ``nvidia-smi`` the model is not recorded.
    """
    if visible is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1", "none", "NoDevFiles"):
        return None
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None:
        return None
    command = [nvidia_smi, "--query-gpu=name", "--format=csv,noheader"]
    if visible:
        command.append(f"--id={visible.strip()}")
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=_NVIDIA_SMI_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    names = [line.strip() for line in completed.stdout.splitlines() if line.strip()]
    if completed.returncode != 0 or not names:
        return None
    return ", ".join(names)


def host_provenance(compute_service_id: str, device: Optional[str] = None) -> dict[str, Any]:
    """What stays the same for every Task run on ``device`` (computed once: ``nvidia-smi`` is slow).

    ``device`` is what the Tasks get as ``CUDA_VISIBLE_DEVICES`` (None: the service's own).
    """
    return {
        "hostname": socket.gethostname(),
        "gpu": gpu_model(device),
        "device": device,
        "versions": package_versions(),
        "compute_service_id": str(compute_service_id),
    }


def unit_provenance(host: dict[str, Any], task: str, attempt: int, start: str, end: str) -> dict[str, Any]:
    return {**host, "task": task, "attempt": attempt, "start": start, "end": end}
