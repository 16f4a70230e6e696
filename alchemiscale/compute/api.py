"""The compute API (``AlchemiscaleComputeAPI``): what compute services and compute managers talk to.

Serve the module-level ``app`` (``uvicorn alchemiscale.compute.api:app``); it reads its settings
from the environment. Like every server module it never imports gufe or any Protocol package.
"""

from __future__ import annotations

from fastapi import FastAPI, status

from ..base.api import create_base_app, error_handler
from ..security.models import CredentialedComputeIdentity
from ..storage.statestore.claims import UnregisteredComputeServiceError
from .routes import ROUTERS
from .routes.common import API_NAME


def create_compute_app() -> FastAPI:
    app = create_base_app(API_NAME, CredentialedComputeIdentity)
    app.add_exception_handler(UnregisteredComputeServiceError, error_handler(status.HTTP_404_NOT_FOUND))
    for router in ROUTERS:
        app.include_router(router)
    return app


app = create_compute_app()
