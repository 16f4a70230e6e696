"""The compute API (``AlchemiscaleComputeAPI``): what compute services and compute managers talk to.

Serve the module-level ``app`` (``uvicorn alchemiscale.compute.api:app``); it reads its settings
from the environment. Like every server module it never imports gufe or any Protocol package.
"""

from __future__ import annotations

from fastapi import FastAPI

from ..base.api import create_base_app
from ..security.models import CredentialedComputeIdentity
from .routes import ROUTERS
from .routes.common import API_NAME


def create_compute_app() -> FastAPI:
    app = create_base_app(API_NAME, CredentialedComputeIdentity)
    for router in ROUTERS:
        app.include_router(router)
    return app


app = create_compute_app()
